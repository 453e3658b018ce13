"""The registries of the SageMaker framework images: for each repository name the SageMaker
Python SDK builds image URIs with, the AWS account that hosts it in each Region.

Source: the SageMaker Python SDK 2.257.7, `sagemaker/image_uri_config/*.json` (every
`"repository"` with its `"registries"`), copied for us-east-1, us-east-2, us-west-2 and
eu-west-1 only:

- 763104351884 (the AWS Deep Learning Containers): pytorch.json, tensorflow.json,
  mxnet.json, huggingface.json, huggingface-training-compiler.json,
  pytorch-training-compiler.json;
- the scikit-learn / XGBoost accounts: sklearn.json, xgboost.json (`sagemaker-xgboost`, the
  script-mode framework; the `xgboost` repository of the same file is the first-party
  algorithm, not a framework image, and is left out);
- 520713654638 (the legacy framework images of SDK 1.x versions): chainer.json, mxnet.json,
  pytorch.json, tensorflow.json.
"""

from __future__ import annotations

import re

REGIONS = ("us-east-1", "us-east-2", "us-west-2", "eu-west-1")

_DLC = dict.fromkeys(REGIONS, "763104351884")
_LEGACY = dict.fromkeys(REGIONS, "520713654638")
_SKLEARN_XGBOOST = {"us-east-1": "683313688378", "us-east-2": "257758044811",
                    "us-west-2": "246618743249", "eu-west-1": "141502667606"}

#: repository name -> {region: registry (account) id}
FRAMEWORK_REGISTRIES: dict[str, dict[str, str]] = {
    **{name: _DLC for name in (
        "pytorch-training", "pytorch-inference", "pytorch-inference-eia",
        "pytorch-inference-graviton", "pytorch-trcomp-training",
        "tensorflow-training", "tensorflow-inference", "tensorflow-inference-eia",
        "tensorflow-inference-graviton",
        "mxnet-training", "mxnet-inference", "mxnet-inference-eia",
        "huggingface-pytorch-training", "huggingface-pytorch-inference",
        "huggingface-tensorflow-training", "huggingface-tensorflow-inference",
        "huggingface-pytorch-trcomp-training", "huggingface-tensorflow-trcomp-training")},
    "sagemaker-scikit-learn": _SKLEARN_XGBOOST,
    "sagemaker-xgboost": _SKLEARN_XGBOOST,
    **{name: _LEGACY for name in (
        "sagemaker-chainer", "sagemaker-mxnet", "sagemaker-mxnet-eia", "sagemaker-mxnet-serving",
        "sagemaker-mxnet-serving-eia", "sagemaker-pytorch", "sagemaker-tensorflow",
        "sagemaker-tensorflow-eia", "sagemaker-tensorflow-scriptmode",
        "sagemaker-tensorflow-serving", "sagemaker-tensorflow-serving-eia")},
}

_URI = re.compile(r"(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com/([^:@]+)(?:[:@].*)?")


def framework_repository(registry_id: str, region: str, name: str) -> bool:
    """Whether `registry_id`'s repository `name` in `region` is a SageMaker framework image
    repository (an AWS-owned registry, not one an execrole account owns)."""
    return FRAMEWORK_REGISTRIES.get(name, {}).get(region) == registry_id


def framework_image_uri(uri: str) -> bool:
    """Whether an image URI (`ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO[:TAG|@DIGEST]`)
    names a framework image."""
    m = _URI.fullmatch(uri)
    return m is not None and framework_repository(*m.groups())
