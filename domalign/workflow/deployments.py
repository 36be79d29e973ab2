"""Deploy and undeploy aligned models into this server's serving engine.

Each request is an operation row (``deploy_…``) that a background thread carries
out; the row, not the thread, is the truth the status routes read. Deployment
state lives on the model (``deployment_status``); the alignment passes through
``deploying`` and ends ``evaluated``/``completed``, or ``undeployed`` after an undeploy.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy import select, update

from domalign.errors import Conflict, NotFound
from domalign.ids import new_id
from domalign.status import AlignmentStatus, transition
from domalign.store.tables import AlignedModel, Alignment, DeploymentOp, utcnow
from domalign.workflow.context import Context
from domalign.workflow.ownership import load_owned

log = logging.getLogger(__name__)


def list_aligned_models(ctx: Context, owner_id: str) -> list[AlignedModel]:
    with ctx.db.session() as session:
        query = select(AlignedModel).where(AlignedModel.owner_id == owner_id).order_by(AlignedModel.id.desc())
        return list(session.scalars(query).all())


def get_aligned_model(ctx: Context, owner_id: str, model_id: str) -> AlignedModel:
    with ctx.db.session() as session:
        return load_owned(session, AlignedModel, model_id, owner_id, "model")


def _settled_status(alignment: Alignment) -> AlignmentStatus:
    return AlignmentStatus.EVALUATED if alignment.evaluation_id else AlignmentStatus.COMPLETED


def request(ctx: Context, engine: Any, owner_id: str, model_id: str, action: str) -> DeploymentOp:
    """Record a deploy/undeploy operation and start it; 409 when the model is not in a state for it."""
    with ctx.db.session() as session:
        model = load_owned(session, AlignedModel, model_id, owner_id, "model")
        alignment = session.get(Alignment, model.alignment_id)
        if action == "deploy":
            if model.deployment_status != "UNDEPLOYED":
                raise Conflict(f"model '{model_id}' is {model.deployment_status.lower()}; nothing to deploy")
            model.deployment_status = "DEPLOYING"
            alignment.status = transition(alignment.status, AlignmentStatus.DEPLOYING).value
        else:
            if model.deployment_status != "DEPLOYED":
                raise Conflict(f"model '{model_id}' is {model.deployment_status.lower()}, not deployed")
            model.deployment_status = "UNDEPLOYING"
        op = DeploymentOp(id=new_id("deploy"), owner_id=owner_id, model_id=model_id, action=action)
        session.add(op)
    threading.Thread(target=_carry_out, args=(ctx, engine, op.id), name=f"{action}-{model_id}", daemon=True).start()
    return op


def _carry_out(ctx: Context, engine: Any, op_id: str) -> None:
    with ctx.db.session() as session:
        op = session.get(DeploymentOp, op_id)
        model = session.get(AlignedModel, op.model_id)
        action, base, adapter_key = op.action, model.base_model, model.adapter_key
    try:
        if action == "deploy":
            engine.add_adapter(base, op.model_id, ctx.blobs.fetch(adapter_key))
        else:
            engine.remove_adapter(base, op.model_id)
        _finish(ctx, op_id, ok=True, result={"model_id": op.model_id, "action": action})
    except Exception as exc:  # the operation, not the server, fails
        log.exception("%s of %s failed", action, op.model_id)
        _finish(ctx, op_id, ok=False, result={"error": f"{type(exc).__name__}: {exc}"})


def _finish(ctx: Context, op_id: str, ok: bool, result: dict) -> None:
    with ctx.db.session() as session:
        op = session.get(DeploymentOp, op_id)
        model = session.get(AlignedModel, op.model_id)
        alignment = session.get(Alignment, model.alignment_id)
        op.status, op.result, op.end_time = ("COMPLETED" if ok else "FAILED"), result, utcnow()
        if op.action == "deploy":
            model.deployment_status = "DEPLOYED" if ok else "UNDEPLOYED"
            alignment.status = transition(alignment.status, _settled_status(alignment)).value
        else:
            model.deployment_status = "UNDEPLOYED" if ok else "DEPLOYED"
            if ok:
                alignment.status = transition(alignment.status, AlignmentStatus.UNDEPLOYED).value


def get_operation(ctx: Context, owner_id: str, model_id: str, action: str) -> DeploymentOp:
    """The newest deploy or undeploy operation of a model."""
    with ctx.db.session() as session:
        load_owned(session, AlignedModel, model_id, owner_id, "model")
        op = session.scalar(select(DeploymentOp).where(
            DeploymentOp.model_id == model_id, DeploymentOp.action == action).order_by(DeploymentOp.id.desc()))
    if op is None:
        raise NotFound(f"model '{model_id}' has no {action} operation")
    return op


def recover(ctx: Context) -> None:
    """At start-up: operations cut off by a restart failed; half-deployed models go back to undeployed.

    Models that were DEPLOYED stay so; the engine loads their adapters on first use.
    """
    with ctx.db.session() as session:
        session.execute(update(DeploymentOp).where(DeploymentOp.status == "PENDING").values(
            status="FAILED", result={"error": "the server restarted during the operation"}, end_time=utcnow()))
        for model in session.scalars(select(AlignedModel).where(
                AlignedModel.deployment_status.in_(["DEPLOYING", "UNDEPLOYING"]))).all():
            deploying = model.deployment_status == "DEPLOYING"
            model.deployment_status = "UNDEPLOYED" if deploying else "DEPLOYED"
            alignment = session.get(Alignment, model.alignment_id)
            if alignment.status == AlignmentStatus.DEPLOYING:
                alignment.status = _settled_status(alignment).value
