"""Collections: a saved index of a dataset, set A against set B, and a clean-up that moves copies away with an undo.

Modules: :mod:`.store` (the index files), :mod:`.build` (build and incremental update), :mod:`.query` (search an
index), :mod:`.compare` (cross pairs of two sets), :mod:`.groups` (components or strict groups), :mod:`.clean`
(move the non-keepers, undo log, undo), :mod:`.cli` (the ``index``/``compare``/``clean``/``undo`` subcommands).

Index format (version 1)
------------------------
A folder, readable without this code (JSON, CSV with a header row, NumPy ``.npy``)::

    INDEX_DIR/
      manifest.json           {"format": "dupfinder-index", "version": 1, "root": absolute dataset path,
                               "created": ISO-8601 UTC, "updated": ISO-8601 UTC, "files": n, "skipped": k,
                               "methods": [{"method", "params", "params_key", "dir", "rows", "dim", "dtype",
                                            "skipped"}], "last_update": {"added", "changed", "removed",
                                            "unchanged", "encoded"}}
      files.csv               every usable image: name,size,mtime_ns,sha256,width,height,format
      skipped.csv             files of the dataset that are not usable images: name,reason
      features/<dir>/features.npy   (rows, dim) feature matrix of one method + parameter set (uint8 packed hash
                                    bits or pixels, float32 CNN features), in the method's own encoding
      features/<dir>/files.csv      name,sha256 of each row of features.npy, row k <-> data line k
      features/<dir>/skipped.csv    name,sha256,reason of the images this method could not decode

``name`` is the posix path relative to the dataset root; ``size`` is in bytes; ``mtime_ns`` the modification time
in nanoseconds since the epoch (empty for zip entries); ``sha256`` the hex SHA-256 of the file's bytes (the same
content id as :attr:`core.datasets.Item.content_id` and the feature cache key). ``params_key`` identifies the
method, its parameters and its encoder version exactly as the feature cache does; an update re-encodes a method
whose key no longer matches the installed code. Files are written to a temporary name and renamed, the manifest
last, so a reader never sees half a matrix.

Reading it in plain Python::

    import csv, json, numpy as np
    m = json.load(open("INDEX_DIR/manifest.json"))
    e = m["methods"][0]
    X = np.load(f"INDEX_DIR/features/{e['dir']}/features.npy")
    names = [r["name"] for r in csv.DictReader(open(f"INDEX_DIR/features/{e['dir']}/files.csv"))]
"""
