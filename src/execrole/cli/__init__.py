"""The `execrole` command line: thin wrappers that parse arguments, call the layers, print."""
