from core.text import counted


def test_counts_take_the_singular_only_for_one():
    assert counted(1, "anastomosis", "anastomoses") == "1 anastomosis"
    assert counted(2, "anastomosis", "anastomoses") == "2 anastomoses"
    assert counted(0, "anastomosis", "anastomoses") == "0 anastomoses"
