"""The matcher trains itself once the store has grown enough, off the daemon's loop, and
`crmhub match status` says what model is in use and whether a training is due."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import Engine, func, select

from hub.cli.main import main
from hub.config import HubConfig, HubSection, MatchSection
from hub.connectors import Batch
from hub.ingest.pipeline import Pipeline
from hub.match.autotrain import train_if_due, training_state
from hub.match.engine import ProbabilisticResolver
from hub.service.daemon import Daemon
from hub.service.runtime import Hub
from hub.store.model import MatchModel
from tests.match.test_matching import NOW, A, generated


def pipeline_of(engine: Engine, **match: object) -> Pipeline:
    return Pipeline(engine, HubConfig(hub=HubSection(default_region="FR"),
                                      match=MatchSection(**match)))  # type: ignore[arg-type]


def test_a_store_that_grew_enough_is_trained_and_re_examined_then_not_again(
        engine: Engine) -> None:
    pipeline = pipeline_of(engine, train_min_records=200, retrain_growth=0.5)
    observations = generated(300, seed=9)
    pipeline.ingest(A, Batch(observations[:150]))
    resolver = pipeline.resolver
    assert isinstance(resolver, ProbabilisticResolver)
    with pipeline.sessions.begin() as session:
        assert training_state(session, resolver.settings).due is None  # 150 < 200
        assert not train_if_due(session, resolver, NOW)
    pipeline.ingest(A, Batch(observations[150:260]))
    with pipeline.sessions.begin() as session:
        state = training_state(session, resolver.settings)
        assert state.due == f"{state.records} person records and no trained model yet"
        assert train_if_due(session, resolver, NOW)
    with pipeline.sessions.begin() as session:
        state = training_state(session, resolver.settings)
        assert state.model_id is not None and state.trained_on == state.records
        assert state.due is None and not train_if_due(session, resolver, NOW)
    pipeline.ingest(A, Batch(observations[260:]))  # grown, but not by half
    with pipeline.sessions() as session:
        assert training_state(session, resolver.settings).due is None
    off = pipeline_of(engine, auto_train=False, train_min_records=2)
    with off.sessions() as session:
        assert training_state(session, off.config.match).due is None


def test_match_status_and_train_if_due_from_the_command_line(
        engine: Engine, db_url: str, tmp_path: Path) -> None:
    pipeline_of(engine).ingest(A, Batch(generated(100, seed=2)))
    config = tmp_path / "crmhub.toml"
    config.write_text('[hub]\ndefault_region = "FR"\nlog_level = "ERROR"\n'
                      "[match]\ntrain_min_records = 50\n")
    env = {"CRMHUB_DATABASE_URL": db_url}

    def run(*args: str) -> str:
        result = CliRunner().invoke(main, [*args, "--config", str(config)], env=env)
        assert result.exit_code == 0, (result.output, result.exception)
        return result.output

    assert "untrained: default parameters" in run("match", "status")
    assert "training due: " in run("match", "status")
    assert "matcher trained" in run("match", "train", "--if-due")
    status = json.loads(run("match", "status", "--json"))
    assert status["model_id"] is not None and status["due"] is None
    assert 0.05 <= status["duplicates_per_record"] <= 5
    assert "no training due" in run("match", "train", "--if-due")


def test_the_daemon_trains_in_a_process_of_its_own(engine: Engine, db_url: str,
                                                   tmp_path: Path) -> None:
    pipeline_of(engine).ingest(A, Batch(generated(100, seed=4)))
    config = tmp_path / "crmhub.toml"
    config.write_text(f'[hub]\ndatabase_url = "{db_url}"\ndefault_region = "FR"\n'
                      "[match]\ntrain_min_records = 50\n")
    hub = Hub.open(config)
    daemon = Daemon(hub.loaded.path, hub)
    try:
        daemon.train_if_due()
        assert daemon.trainer is not None and daemon.trainer.pid is not None
        daemon.trainer.join(60)
        assert daemon.trainer.exitcode == 0
        daemon.train_if_due()  # reaped; the next check waits TRAIN_CHECK seconds
        assert daemon.trainer is None
    finally:
        hub.close()
    with pipeline_of(engine).sessions() as session:
        assert session.scalar(select(func.count()).select_from(MatchModel)) == 1
