"""read_table, the fsspec filesystem (pandas, pyarrow.dataset) without a checkout."""

import os
import subprocess
import sys

import fsspec
import pandas
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pyoxen
import pytest


@pytest.fixture
def repo(tmp_path):
    r = pyoxen.init(tmp_path / "r")
    with open(tmp_path / "r/t.csv", "w") as f:
        f.write("id,name\n1,ann\n2,bob\n")
    os.makedirs(tmp_path / "r/pq")
    table = pa.table({"id": [1, 2, 3], "v": [0.5, 1.5, 2.5]})
    pq.write_table(table, tmp_path / "r/pq/part-0.parquet")
    pq.write_table(pa.table({"id": [4], "v": [3.5]}), tmp_path / "r/pq/part-1.parquet")
    r.add(".")
    r.first = r.commit("tables")
    with open(tmp_path / "r/t.csv", "w") as f:
        f.write("id,name\n1,ann\n2,bob\n3,cy\n")
    r.add("t.csv")
    r.second = r.commit("more rows")
    return r


def test_read_table_csv_and_parquet(repo):
    t = repo.read_table("t.csv", rev=repo.first)
    assert t.column_names == ["id", "name"] and t.num_rows == 2
    assert repo.read_table("t.csv").num_rows == 3
    p = repo.read_table("pq/part-0.parquet")
    assert p.to_pydict() == {"id": [1, 2, 3], "v": [0.5, 1.5, 2.5]}


def test_read_table_without_pyarrow_is_a_clear_error(repo):
    code = (
        "import sys; sys.modules['pyarrow'] = None\n"
        "import pyoxen\n"
        f"r = pyoxen.Repo({repo.path!r})\n"
        "try:\n"
        "    r.read_table('t.csv')\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "needs pyarrow: pip install pyarrow" in out


def test_pandas_reads_an_oxen_url(repo):
    url = f"oxen://{repo.path}@{repo.first}/t.csv"
    df = pandas.read_csv(url)
    assert list(df["name"]) == ["ann", "bob"]
    df = pandas.read_csv(f"oxen://{repo.path}@main/t.csv")
    assert len(df) == 3
    # Options instead of a URL.
    df = pandas.read_csv("oxen://t.csv", storage_options={"repo": repo.path, "rev": repo.first})
    assert len(df) == 2


def test_fsspec_ls_info_cat(repo):
    fs = fsspec.filesystem("oxen", repo=repo.path, rev=repo.first)
    assert fs.ls("", detail=False) == ["pq", "t.csv"]
    assert fs.ls("pq", detail=False) == ["pq/part-0.parquet", "pq/part-1.parquet"]
    assert fs.info("t.csv")["size"] == len("id,name\n1,ann\n2,bob\n")
    assert fs.info("pq")["type"] == "directory"
    assert fs.cat("t.csv") == b"id,name\n1,ann\n2,bob\n"
    assert fs.cat_file("t.csv", start=3, end=7) == b"name"
    with pytest.raises(FileNotFoundError):
        fs.info("missing.csv")
    with pytest.raises(FileNotFoundError):
        fs.open("missing.csv")
    with pytest.raises(PermissionError):
        fs.open("t.csv", "wb")
    with fs.open("t.csv") as f:
        assert f.read(2) == b"id"
    assert fs.exists("pq/part-1.parquet") and not fs.exists("pq/none")
    assert sorted(fs.find("")) == ["pq/part-0.parquet", "pq/part-1.parquet", "t.csv"]


def test_pyarrow_dataset_over_fsspec(repo):
    fs = fsspec.filesystem("oxen", repo=repo.path, rev="HEAD")
    dataset = ds.dataset("pq", format="parquet", filesystem=fs)
    t = dataset.to_table().sort_by("id")
    assert t.to_pydict() == {"id": [1, 2, 3, 4], "v": [0.5, 1.5, 2.5, 3.5]}
