raise RuntimeError("raisepkg does not import")
