"""The public names: sorted, all importable, nothing public left out (as httpx keeps its own)."""

import avito_kit


def test_all_is_sorted_and_complete():
    assert avito_kit.__all__ == sorted(avito_kit.__all__)
    for name in avito_kit.__all__:
        assert hasattr(avito_kit, name), name
    public_classes = {n for n, v in vars(avito_kit).items() if isinstance(v, type) and not n.startswith("_")}
    assert public_classes <= set(avito_kit.__all__)
