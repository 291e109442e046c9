"""Request and response bodies of the API beyond the domain models."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mlrp.models.jobs import JobSpec
from mlrp.models.states import JobState


class Submitted(BaseModel):
    ids: list[int]
    display_ids: list[str]


class BatchSubmit(BaseModel):
    """Many specs, all or none. `env`, the environment most of them share, travels and
    is validated once: every spec without an `env` of its own gets it."""

    model_config = ConfigDict(extra="forbid")
    env: dict[str, str] | None = None
    specs: list[JobSpec] = Field(min_length=1, max_length=100_000)


class SbatchRequest(BaseModel):
    """`mlrp submit` / `mlrp run` as typed, for the daemon to parse (see
    mlrp.parsing.request.spec_from_request): the CLI splits the tokens and reads a
    script or task file with the caller's own permissions; the daemon never opens a
    path named here. `workdir`: the caller's working directory."""

    model_config = ConfigDict(extra="forbid")
    command: Literal["submit", "run"] = "submit"
    options: list[str] = Field(default_factory=list)
    rest: list[str] = Field(default_factory=list)
    after_double_dash: bool = False
    file_name: str | None = None
    file_text: str | None = None
    environ: dict[str, str] = Field(default_factory=dict)
    workdir: str = Field(min_length=1)
    as_user: str | None = None

    @model_validator(mode="after")
    def _whole_file(self) -> SbatchRequest:
        if (self.file_name is None) != (self.file_text is None):
            raise ValueError("give both file_name and file_text, or neither")
        return self


class BatchSubmitted(BaseModel):
    jobs: list[Submitted]


class Selection(BaseModel):
    """Which jobs an action applies to: ids as users write them, and/or filters."""

    model_config = ConfigDict(extra="forbid")
    targets: list[str] = Field(default_factory=list)
    user: str | None = None
    name: str | None = None
    states: list[JobState] | None = None


class Affected(BaseModel):
    jobs: list[str]


class JobList(BaseModel):
    jobs: list[dict[str, Any]]


class Identity(BaseModel):
    user: str
    uid: int
    is_admin: bool
    multi_user: bool
    backend: str = "local"


class Planned(BaseModel):
    """A dry run: the spec fields a request parses into, and its sbatch script."""

    backend: str
    fields: dict[str, Any]
    script: str


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody
