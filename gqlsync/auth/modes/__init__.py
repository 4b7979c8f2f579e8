"""The auth modes, one module each; every module registers its mode in `AUTH_MODES`."""
