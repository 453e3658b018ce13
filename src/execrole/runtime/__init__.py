"""What runs inside execrole's process images: the script-mode entrypoint of the SageMaker
framework images (`python -m execrole.runtime.script_mode`)."""
