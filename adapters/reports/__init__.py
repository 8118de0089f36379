"""Reports (``crm report``) and table exports (``crm export``) over the read models.

A report is built once as plain data (``model.Report``) and rendered by format: a text
table, CSV, JSON or a self-contained HTML page with SVG charts, in English or Chinese.
"""
