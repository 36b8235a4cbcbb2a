"""How the Lambda artifact is built: ``artifact/Makefile`` (run by ``sam build``) and ``build.py``."""
