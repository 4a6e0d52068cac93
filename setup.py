"""The compiled kernel (terrain/_kernel.c); everything else is in pyproject.toml.

No fused multiply-add and no fast-math: every operation must be the IEEE
operation numpy performs, so that the central gradient equals numpy.gradient
bit for bit. Two flags change no result: -fno-math-errno only stops sqrt from
setting errno, which lets the compiler vectorise it; -fno-trapping-math tells it
that no floating-point exception is ever trapped (none is: the kernel never
enables a trap, and nothing reads the exception flags), so that it may compute
both sides of a selection, as the vectorised arctangent's three ranges need.
"""

import sys

from setuptools import Extension, setup

if sys.platform == "win32":
    flags = ["/O2", "/fp:precise"]
else:
    flags = ["-O3", "-ffp-contract=off", "-fno-fast-math", "-fno-math-errno",
             "-fno-trapping-math"]

setup(ext_modules=[Extension("terrain._kernel", ["terrain/_kernel.c"],
                             extra_compile_args=flags)])
