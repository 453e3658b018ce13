"""The AWS wire: protocols driven by botocore's service models, SigV4, routing, errors."""
