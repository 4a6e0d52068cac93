"""Child processes of the tests run as a default install of terrain-dem: without boto3.

terrain needs no boto3 (GDAL reads the AWS settings itself), but the test
extra brings it, with moto; rasterio then imports it in every process (0.2 s
of a 0.5 s start) and builds its own AWS session from it. tests/conftest.py
puts this folder first on PYTHONPATH for every process the tests start, so
that they see what a user's default install sees; the S3 server, which needs
boto3, is started without it (tests/s3.py).
"""

import sys

sys.modules.setdefault("boto3", None)  # `import boto3` raises ImportError
