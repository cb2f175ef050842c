"""Custom reports: definitions staff save (``registry`` says what they may ask for, ``specs``
checks it), runs a Celery worker computes (``query``, ``services``), and their CSV/XLSX renderings
(``render``)."""
