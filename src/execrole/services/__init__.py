"""One provider per emulated AWS service; providers never see HTTP."""
