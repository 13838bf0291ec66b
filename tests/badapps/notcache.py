"""A class that is not a cache."""


class NotCache:
    pass


def not_a_factory() -> None:
    pass
