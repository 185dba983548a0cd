"""Packaging: the repository root is the import package ``intercom_connector``.

pyproject.toml holds everything declarative; this only lists the packages, found rather
than written by hand, so that a new folder of code is never left out of the wheel.
setuptools' own discovery cannot do it: it would install ``actions`` and ``runtime`` as
top-level names instead of ``intercom_connector.actions`` and so on.
"""

from typing import Any

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

#: folders of the repository that are not part of the installed package
NOT_SHIPPED = ["tests", "tests.*", "bench", "bench.*", "build", "build.*", "examples"]


class BuildPy(build_py):  # type: ignore[misc]
    """build_py, leaving this file out of the package it sits in."""

    def find_package_modules(self, package: str, package_dir: str) -> list[Any]:
        modules: list[Any] = super().find_package_modules(package, package_dir)
        return [m for m in modules if (package, m[1]) != ("intercom_connector", "setup")]


setup(
    cmdclass={"build_py": BuildPy},
    packages=[
        "intercom_connector",
        *(f"intercom_connector.{name}" for name in find_packages(".", exclude=NOT_SHIPPED)),
    ],
)
