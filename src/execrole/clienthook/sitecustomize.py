"""execrole's client hook: send botocore clients created with an explicit AWS endpoint to
execrole.

Some SDKs pass ``endpoint_url`` themselves — the SageMaker Python SDK creates its STS clients
with ``endpoint_url="https://sts.<region>.amazonaws.com"`` — and an explicit endpoint wins over
``AWS_ENDPOINT_URL``. Python runs this file at startup when its directory is on ``PYTHONPATH``
(``eval "$(execrole env)"`` puts it there). It then does nothing unless
``EXECROLE_ENDPOINT_URL`` is set; when it is, an ``endpoint_url`` whose host is an AWS one
(``*.amazonaws.com``, ``*.amazonaws.com.cn``, ``*.api.aws``) is replaced by that URL in
``botocore.session.Session.create_client``. Other explicit endpoints are left alone.

Standard library only, and botocore is patched when something imports it, not here: this
runs in every Python process of the shell, most of which never import botocore (it costs
~150 ms). A ``sitecustomize`` that this one shadows is run afterwards.
"""

from __future__ import annotations

import importlib.machinery
import os
import sys

# Only the modules Python has loaded by now: importlib.abc, typing and urllib.parse would add
# ~30 ms to every interpreter start. The finder and loader below are duck-typed.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from types import ModuleType
    from typing import Any

ENV_VAR = "EXECROLE_ENDPOINT_URL"
# A notebook instance's metadata file (`execrole notebook run` writes it): the SageMaker SDK
# reads it at a fixed path, /opt/ml/metadata/resource-metadata.json, to find the notebook's
# execution role; the hook points the SDK's constant at this file instead.
METADATA_VAR = "EXECROLE_RESOURCE_METADATA"
AWS_HOST_SUFFIXES = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws")
_TARGET = "botocore.session"
# The SDK modules that hold the metadata path (2.x, 3.x).
_METADATA_MODULES = ("sagemaker.session", "sagemaker.core.helper.session_helper")
# create_client(self, service_name, region_name, api_version, use_ssl, verify, endpoint_url, ...)
_ENDPOINT_POSITION = 5


def rewrite(endpoint_url: object, target: str | None) -> object:
    """The endpoint a client should use: ``target`` for an AWS host, else unchanged."""
    if not target or not isinstance(endpoint_url, str):
        return endpoint_url
    from urllib.parse import urlsplit

    host = (urlsplit(endpoint_url).hostname or "").lower().rstrip(".")
    return target if host.endswith(AWS_HOST_SUFFIXES) else endpoint_url


def patch(module: ModuleType) -> None:
    """Wrap ``module.Session.create_client`` (``module`` is ``botocore.session``); idempotent.
    The target is read at each call, so unsetting the variable switches the hook off."""
    session_class = module.Session
    original = session_class.create_client
    if getattr(original, "_execrole_hook", False):
        return

    def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        target = os.environ.get(ENV_VAR)
        if len(args) > _ENDPOINT_POSITION:
            args = (*args[:_ENDPOINT_POSITION], rewrite(args[_ENDPOINT_POSITION], target),
                    *args[_ENDPOINT_POSITION + 1:])
        elif "endpoint_url" in kwargs:
            kwargs["endpoint_url"] = rewrite(kwargs["endpoint_url"], target)
        return original(self, *args, **kwargs)

    create_client.__wrapped__ = original  # type: ignore[attr-defined]
    create_client._execrole_hook = True  # type: ignore[attr-defined]
    create_client.__doc__ = original.__doc__
    session_class.create_client = create_client


def patch_metadata(module: ModuleType) -> None:
    """Point the SDK module's NOTEBOOK_METADATA_FILE at the notebook's metadata file."""
    path = os.environ.get(METADATA_VAR)
    if path and hasattr(module, "NOTEBOOK_METADATA_FILE"):
        module.NOTEBOOK_METADATA_FILE = path  # type: ignore[attr-defined]


def _patches() -> dict[str, Callable[[ModuleType], None]]:
    """Module name -> what to do to it once it has run."""
    out: dict[str, Callable[[ModuleType], None]] = {_TARGET: patch}
    if os.environ.get(METADATA_VAR):
        out.update({name: patch_metadata for name in _METADATA_MODULES})
    return out


class _Loader:
    """A module's own loader, plus its patch once the module has run."""

    def __init__(self, inner: Any, after: Callable[[ModuleType], None] = patch) -> None:
        self.inner = inner
        self.after = after

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        created: ModuleType | None = self.inner.create_module(spec)
        return created

    def exec_module(self, module: ModuleType) -> None:
        self.inner.exec_module(module)
        self.after(module)

    def __getattr__(self, name: str) -> Any:  # get_source, get_filename, ... for tracebacks
        if name in ("inner", "after"):  # not set yet (copy, pickle): no endless recursion
            raise AttributeError(name)
        return getattr(self.inner, name)


class _Finder:
    """Finds nothing itself; hands a patched module's spec back with `_Loader` around its
    loader, and leaves sys.meta_path once every module it waits for is found."""

    def __init__(self, pending: dict[str, Callable[[ModuleType], None]]) -> None:
        self.pending = pending

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        after = self.pending.pop(fullname, None)
        if after is None:
            return None
        if not self.pending and self in sys.meta_path:
            sys.meta_path.remove(self)
        spec = None
        for finder in list(sys.meta_path):  # the import system's own search, without us
            if finder is self:
                continue
            find: Callable[..., Any] | None = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find else None
            if spec is not None:
                break
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader, after)
        return spec


def install() -> None:
    """Patch the modules now if they are loaded, else when they are imported."""
    pending = {}
    for name, after in _patches().items():
        loaded = sys.modules.get(name)
        if loaded is not None:
            after(loaded)
        else:
            pending[name] = after
    if pending and not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder(pending))


def _chain() -> None:
    """Run the sitecustomize this file shadows (a distribution's or a virtualenv's), as
    Python would have without us; its errors are reported by `site` as usual."""
    here = os.path.realpath(os.path.dirname(__file__))
    rest = [p for p in sys.path if os.path.realpath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return
    from importlib.util import module_from_spec

    module = module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


# Only when Python runs this file as `sitecustomize`; importing it as
# execrole.clienthook.sitecustomize (tests, mypy) has no side effects.
if __name__ == "sitecustomize":
    if os.environ.get(ENV_VAR):
        try:
            install()
        except Exception as error:  # never stop the interpreter from starting
            print(f"execrole client hook not installed: {error!r}", file=sys.stderr)
    _chain()
