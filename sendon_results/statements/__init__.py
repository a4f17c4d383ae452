"""Send statements (발송내역서): a period's figures from the database, as a PDF that proves
itself.

The figures are gathered in one grouped query over the period's deliveries, stored on
the statement, fingerprinted with SHA-256 and printed with a code and a QR code that
lead to a public page showing the same figures and scope. Statements are numbered per
organization and month, in the transaction that creates them.
"""
