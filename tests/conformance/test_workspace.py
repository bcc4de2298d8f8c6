"""Workspace files API 2.0 through the SDK: directories, import/export, status, list, delete."""

import base64

from databricks.sdk.errors import BadRequest, ResourceAlreadyExists, ResourceDoesNotExist
from databricks.sdk.service.workspace import ExportFormat, ImportFormat, Language, ObjectType

from support import ADMIN, expect_error

BASE = f"/Users/{ADMIN}/conformance"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _import(w, path: str, data: bytes, overwrite: bool = False) -> None:
    w.workspace.import_(path, content=_b64(data), format=ImportFormat.AUTO, overwrite=overwrite)


def test_mkdirs_creates_parents_and_is_idempotent(w):
    w.workspace.mkdirs(f"{BASE}/a/b/c")
    w.workspace.mkdirs(f"{BASE}/a/b/c")
    for path in (BASE, f"{BASE}/a", f"{BASE}/a/b", f"{BASE}/a/b/c"):
        status = w.workspace.get_status(path)
        assert status.object_type == ObjectType.DIRECTORY
        assert status.path == path
        assert status.object_id and status.object_id > 0
    assert [o.path for o in w.workspace.list(f"{BASE}/a")] == [f"{BASE}/a/b"]


def test_import_and_export_round_trip(w):
    w.workspace.mkdirs(BASE)
    data = '{"serial": 7, "owner": "tändem"}\n'.encode()
    _import(w, f"{BASE}/state.json", data)
    status = w.workspace.get_status(f"{BASE}/state.json")
    assert status.object_type == ObjectType.FILE
    assert status.path == f"{BASE}/state.json"
    assert status.object_id and status.object_id > 0
    exported = w.workspace.export(f"{BASE}/state.json")
    assert base64.b64decode(exported.content) == data


def test_import_of_an_existing_path_needs_overwrite(w):
    w.workspace.mkdirs(BASE)
    _import(w, f"{BASE}/lock.json", b"first")
    expect_error((ResourceAlreadyExists,), _import, w, f"{BASE}/lock.json", b"second")
    assert base64.b64decode(w.workspace.export(f"{BASE}/lock.json").content) == b"first"
    _import(w, f"{BASE}/lock.json", b"second", overwrite=True)
    assert base64.b64decode(w.workspace.export(f"{BASE}/lock.json").content) == b"second"


def test_import_needs_an_existing_parent(w):
    expect_error((ResourceDoesNotExist,), _import, w, f"{BASE}/missing/dir/file.json", b"{}")


def test_list_directory(w):
    w.workspace.mkdirs(f"{BASE}/sub")
    _import(w, f"{BASE}/one.json", b"1")
    _import(w, f"{BASE}/two.json", b"2")
    listed = {o.path: o.object_type for o in w.workspace.list(BASE)}
    assert listed == {
        f"{BASE}/sub": ObjectType.DIRECTORY,
        f"{BASE}/one.json": ObjectType.FILE,
        f"{BASE}/two.json": ObjectType.FILE,
    }
    assert list(w.workspace.list(f"{BASE}/sub")) == []
    expect_error((ResourceDoesNotExist,), w.workspace.list, f"{BASE}/nope")


def test_missing_paths_are_not_found(w):
    expect_error((ResourceDoesNotExist,), w.workspace.get_status, f"{BASE}/nope.json")
    expect_error((ResourceDoesNotExist,), w.workspace.export, f"{BASE}/nope.json")
    expect_error((ResourceDoesNotExist,), w.workspace.delete, f"{BASE}/nope.json")


def test_delete_file_and_directories(w):
    w.workspace.mkdirs(f"{BASE}/dir/nested")
    _import(w, f"{BASE}/dir/file.json", b"x")
    _import(w, f"{BASE}/lone.json", b"y")
    w.workspace.delete(f"{BASE}/lone.json")
    expect_error((ResourceDoesNotExist,), w.workspace.get_status, f"{BASE}/lone.json")

    expect_error((BadRequest,), w.workspace.delete, f"{BASE}/dir")
    assert w.workspace.get_status(f"{BASE}/dir/file.json").object_type == ObjectType.FILE
    w.workspace.delete(f"{BASE}/dir", recursive=True)
    for path in (f"{BASE}/dir", f"{BASE}/dir/nested", f"{BASE}/dir/file.json"):
        expect_error((ResourceDoesNotExist,), w.workspace.get_status, path)
    assert w.workspace.get_status(BASE).object_type == ObjectType.DIRECTORY


def test_mkdirs_over_a_file_fails(w):
    w.workspace.mkdirs(BASE)
    _import(w, f"{BASE}/file.json", b"x")
    expect_error((ResourceAlreadyExists, BadRequest), w.workspace.mkdirs, f"{BASE}/file.json")


def test_notebook_source_exports_begin_with_the_language_header(w):
    # A SOURCE export of a notebook starts with its language's header line ("# Databricks notebook
    # source" for Python and R, "-- ..." for SQL, "// ..." for Scala), as the CLI's notebook
    # detection reads it (databricks/cli libs/notebook/detect.go); importing such a source again
    # keeps one header, not two.
    w.workspace.mkdirs(BASE)
    for name, language, body in [
        ("py", Language.PYTHON, "print(1)\n"),
        ("sql", Language.SQL, "SELECT 1\n"),
        ("scala", Language.SCALA, "println(1)\n"),
        ("r", Language.R, "print(1)\n"),
    ]:
        header = {"SQL": "--", "SCALA": "//"}.get(language.value, "#") + " Databricks notebook source"
        path = f"{BASE}/{name}"
        w.workspace.import_(path, content=_b64(body.encode()), format=ImportFormat.SOURCE, language=language)
        exported = base64.b64decode(w.workspace.export(path, format=ExportFormat.SOURCE).content).decode()
        assert exported == f"{header}\n{body}", name
        w.workspace.import_(
            path, content=_b64(exported.encode()), format=ImportFormat.SOURCE, language=language, overwrite=True
        )
        again = base64.b64decode(w.workspace.export(path, format=ExportFormat.SOURCE).content).decode()
        assert again == exported, f"{name}: the header is not doubled"
