"""Delivery confirmations (발송확인서): the messages sent to one number in a period, on one
page, numbered per organization and month and verifiable by a code, made by a worker like
statements (render.py prints through statements.render, the one WeasyPrint importer)."""
