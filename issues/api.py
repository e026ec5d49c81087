"""REST endpoints of the ledger."""


def register(router):
    pass
