"""The references the pipeline is measured against: a bare FastAPI endpoint and the classic Redis design."""
