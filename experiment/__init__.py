"""The experiment folder, one noun: where each file lives (``layout``), how it is written
(``storage``: local paths and storage URIs alike), the records of a run and of its driver
(``record``, ``lock``), the per-trial logs (``logs``), the summary (``summary``) and the
tables read back from it all (``results``). It knows trials and files, not search spaces or
reports: ``reports`` and ``nas`` import it, it imports neither."""
