"""Plain words for counts, shared by services, reports and pages."""


def counted(count: int, singular: str, plural: str) -> str:
    """'1 anastomosis', '2 anastomoses': never 'anastomosis(es)'."""
    return f"{count} {singular if count == 1 else plural}"
