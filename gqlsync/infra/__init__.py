"""`gqlsync infra`: a CloudFormation template for running an app on AWS, generated from its manifest."""

from gqlsync.infra.plan import InfraError, InfraPlan, plan_app
from gqlsync.infra.template import render, template_for

__all__ = ["InfraError", "InfraPlan", "plan_app", "render", "template_for"]
