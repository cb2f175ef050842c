"""Error codes of the custom reports API (in ``error.code``). Stable: clients branch on them."""

REPORT_NOT_EDITABLE = "REPORT_NOT_EDITABLE"  # only its owner or a superadmin changes a definition (403)
REPORT_RUN_NOT_READY = "REPORT_RUN_NOT_READY"  # download of a run that is not done (409)
