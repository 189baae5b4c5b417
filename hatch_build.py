"""The wheel's build hook: compiles the TDS endpoint's ROW encoder (`odata_emulator/tds/_rows.c`) when
the machine can (a C compiler and Python's headers), through setuptools' `build_ext`, which knows each
platform's compiler and flags. Where it cannot, the wheel stays pure Python and `tds/rows.py` uses its
generated Python encoder instead, which writes the same bytes at about a fifth of the speed.

A wheel with the compiled module is tagged for this interpreter and platform. The module is built in
place, beside `_rows.c` (ignored by git), and the wheel takes it from there: an editable install imports
the source tree, and so do the tests of a plain install (pytest's `pythonpath` puts the checkout first),
which then test the compiled encoder the installed package uses.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

MODULE = "odata_emulator.tds._rows"
SOURCE = "odata_emulator/tds/_rows.c"


class CompiledRows(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        self._scratch = tempfile.mkdtemp(prefix="odata-emulator-build-")
        try:
            built = _compile(self.root, self._scratch)
        except Exception as exc:  # no compiler, no headers, a failed compile: the pure-Python wheel
            self.app.display_warning(f"odata-emulator: the compiled ROW encoder was not built ({exc}); "
                                     "the TDS endpoint uses its Python encoder")
            return
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        if version != "editable":
            build_data["force_include"][built] = os.path.relpath(built, self.root)

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        if self.target_name == "wheel":
            shutil.rmtree(self._scratch, ignore_errors=True)


def _compile(root: str, objects_dir: str) -> str:
    """The module built in place (its path returned); the object files go to `objects_dir`."""
    from setuptools import Distribution, Extension

    distribution = Distribution({"name": "odata-emulator-rows", "ext_modules": [Extension(MODULE, [SOURCE])]})
    command = distribution.get_command_obj("build_ext")
    command.inplace = True
    command.build_temp = objects_dir
    here = os.getcwd()
    os.chdir(root)  # build_ext takes the sources' paths relative to the project
    try:
        command.ensure_finalized()
        command.run()
        built = command.get_ext_fullpath(MODULE)
    finally:
        os.chdir(here)
    return os.path.join(root, built)
