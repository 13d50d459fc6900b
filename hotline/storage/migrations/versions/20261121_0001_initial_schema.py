"""Initial schema: calls, CDR legs, IVR path, seats and queues, call-backs, work orders,
transcripts, recordings, flow versions, merged hotlines, users, audit log, interval statistics.

Revision ID: 0001
Revises: 
Create Date: 2026-11-21 13:30:45.564007+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ts', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target', sa.String(length=255), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    op.create_index('ix_audit_log_action_ts', 'audit_log', ['action', 'ts'], unique=False)
    op.create_index('ix_audit_log_actor_ts', 'audit_log', ['actor', 'ts'], unique=False)
    op.create_index('ix_audit_log_ts', 'audit_log', ['ts'], unique=False)

    op.create_table('callbacks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.String(length=64), nullable=True),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('queue', sa.String(length=64), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.String(length=255), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'dialling', 'done', 'failed')", name=op.f('ck_callbacks_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_callbacks'))
    )
    op.create_index('ix_callbacks_call_id', 'callbacks', ['call_id'], unique=False)
    op.create_index('ix_callbacks_status_due_at', 'callbacks', ['status', 'due_at'], unique=False)

    op.create_table('calls',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('dnis', sa.String(length=32), nullable=True),
    sa.Column('caller_number', sa.String(length=32), nullable=True),
    sa.Column('caller_name', sa.String(length=128), nullable=True),
    sa.Column('hotline', sa.String(length=32), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('disposition', sa.String(length=32), nullable=True),
    sa.Column('hangup_cause', sa.Integer(), nullable=True),
    sa.Column('queue', sa.String(length=64), nullable=True),
    sa.Column('agent', sa.String(length=32), nullable=True),
    sa.Column('survey_score', sa.Integer(), nullable=True),
    sa.Column('flow_name', sa.String(length=128), nullable=True),
    sa.Column('flow_version', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calls'))
    )
    op.create_index('ix_calls_agent_started_at', 'calls', ['agent', 'started_at'], unique=False)
    op.create_index('ix_calls_caller_number', 'calls', ['caller_number'], unique=False)
    op.create_index('ix_calls_queue_started_at', 'calls', ['queue', 'started_at'], unique=False)
    op.create_index('ix_calls_started_at', 'calls', ['started_at'], unique=False)

    op.create_table('flow_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('flow_name', sa.String(length=128), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('yaml_text', sa.Text(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('published_by', sa.String(length=64), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('comment', sa.String(length=255), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_flow_versions')),
    sa.UniqueConstraint('flow_name', 'version', name=op.f('uq_flow_versions_flow_name_version'))
    )
    op.create_index(op.f('ix_flow_versions_flow_name'), 'flow_versions', ['flow_name'], unique=False)

    op.create_table('hotlines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('department', sa.String(length=128), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('target', sa.String(length=64), nullable=True),
    sa.Column('skill', sa.String(length=64), nullable=True),
    sa.CheckConstraint("mode IN ('direct_merge', 'call_transfer', 'interconnection')", name=op.f('ck_hotlines_mode')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hotlines')),
    sa.UniqueConstraint('number', name=op.f('uq_hotlines_number'))
    )
    op.create_table('interval_stats',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('interval_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('scope_kind', sa.String(length=8), nullable=False),
    sa.Column('scope_name', sa.String(length=64), nullable=False),
    sa.Column('offered', sa.Integer(), nullable=False),
    sa.Column('answered', sa.Integer(), nullable=False),
    sa.Column('abandoned', sa.Integer(), nullable=False),
    sa.Column('answered_within_sl', sa.Integer(), nullable=False),
    sa.Column('sum_wait', sa.Float(), nullable=False),
    sa.Column('sum_handle', sa.Float(), nullable=False),
    sa.Column('max_wait', sa.Float(), nullable=False),
    sa.CheckConstraint("scope_kind IN ('queue', 'group', 'site')", name=op.f('ck_interval_stats_scope_kind')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_interval_stats')),
    sa.UniqueConstraint('interval_start', 'scope_kind', 'scope_name', name=op.f('uq_interval_stats_interval_start_scope_kind_scope_name'))
    )
    op.create_index('ix_interval_stats_scope_kind_scope_name_interval_start', 'interval_stats', ['scope_kind', 'scope_name', 'interval_start'], unique=False)

    op.create_table('sites',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('description', sa.String(length=255), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sites')),
    sa.UniqueConstraint('name', name=op.f('uq_sites_name'))
    )
    op.create_table('skills',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('description', sa.String(length=255), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_skills')),
    sa.UniqueConstraint('name', name=op.f('uq_skills_name'))
    )
    op.create_table('work_orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_no', sa.String(length=32), nullable=False),
    sa.Column('call_id', sa.String(length=64), nullable=True),
    sa.Column('caller_number', sa.String(length=32), nullable=True),
    sa.Column('caller_name', sa.String(length=128), nullable=True),
    sa.Column('type', sa.String(length=8), nullable=False),
    sa.Column('category', sa.String(length=128), nullable=True),
    sa.Column('title', sa.String(length=255), nullable=True),
    sa.Column('content', sa.Text(), nullable=True),
    sa.Column('address', sa.String(length=255), nullable=True),
    sa.Column('urgency', sa.String(length=8), nullable=False),
    sa.Column('department', sa.String(length=128), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('sign_for_due', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reply_due', sa.DateTime(timezone=True), nullable=True),
    sa.Column('close_due', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("type IN ('咨询', '求助', '投诉', '建议', '举报')", name=op.f('ck_work_orders_type')),
    sa.CheckConstraint("urgency IN ('突发', '紧急', '一般')", name=op.f('ck_work_orders_urgency')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_work_orders')),
    sa.UniqueConstraint('ticket_no', name=op.f('uq_work_orders_ticket_no'))
    )
    op.create_index('ix_work_orders_call_id', 'work_orders', ['call_id'], unique=False)
    op.create_index('ix_work_orders_department_status', 'work_orders', ['department', 'status'], unique=False)
    op.create_index('ix_work_orders_status_created_at', 'work_orders', ['status', 'created_at'], unique=False)

    op.create_table('call_legs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=128), nullable=False),
    sa.Column('uniqueid', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('hangup_cause', sa.Integer(), nullable=True),
    sa.CheckConstraint("role IN ('caller', 'agent', 'external', 'conference')", name=op.f('ck_call_legs_role')),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_call_legs_call_id_calls'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_call_legs')),
    sa.UniqueConstraint('uniqueid', name=op.f('uq_call_legs_uniqueid'))
    )
    op.create_index('ix_call_legs_call_id', 'call_legs', ['call_id'], unique=False)

    op.create_table('groups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_groups_site_id_sites'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_groups')),
    sa.UniqueConstraint('name', name=op.f('uq_groups_name'))
    )
    op.create_index(op.f('ix_groups_site_id'), 'groups', ['site_id'], unique=False)

    op.create_table('ivr_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('node_id', sa.String(length=128), nullable=False),
    sa.Column('event', sa.String(length=64), nullable=False),
    sa.Column('data', sa.JSON(), nullable=True),
    sa.Column('ts', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_ivr_events_call_id_calls'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ivr_events')),
    sa.UniqueConstraint('call_id', 'seq', name=op.f('uq_ivr_events_call_id_seq'))
    )
    op.create_table('queues',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('skill_id', sa.Integer(), nullable=True),
    sa.Column('priority_classes', sa.JSON(), nullable=False),
    sa.Column('wrapup_seconds', sa.Float(), nullable=False),
    sa.Column('service_level_seconds', sa.Float(), nullable=False),
    sa.Column('overflow', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['skill_id'], ['skills.id'], name=op.f('fk_queues_skill_id_skills'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_queues')),
    sa.UniqueConstraint('name', name=op.f('uq_queues_name'))
    )
    op.create_index(op.f('ix_queues_skill_id'), 'queues', ['skill_id'], unique=False)

    op.create_table('recordings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.String(length=64), nullable=False),
    sa.Column('work_order_id', sa.Integer(), nullable=True),
    sa.Column('path', sa.String(length=512), nullable=False),
    sa.Column('format', sa.String(length=8), nullable=False),
    sa.Column('duration', sa.Float(), nullable=True),
    sa.Column('size', sa.Integer(), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('access_level', sa.String(length=16), nullable=False),
    sa.CheckConstraint("access_level IN ('normal', 'restricted', 'confidential')", name=op.f('ck_recordings_access_level')),
    sa.ForeignKeyConstraint(['work_order_id'], ['work_orders.id'], name=op.f('fk_recordings_work_order_id_work_orders'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recordings')),
    sa.UniqueConstraint('path', name=op.f('uq_recordings_path'))
    )
    op.create_index('ix_recordings_call_id', 'recordings', ['call_id'], unique=False)
    op.create_index('ix_recordings_started_at', 'recordings', ['started_at'], unique=False)
    op.create_index(op.f('ix_recordings_work_order_id'), 'recordings', ['work_order_id'], unique=False)

    op.create_table('transcripts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=128), nullable=True),
    sa.Column('work_order_id', sa.Integer(), nullable=True),
    sa.Column('language', sa.String(length=16), nullable=False),
    sa.Column('model', sa.String(length=128), nullable=True),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['work_order_id'], ['work_orders.id'], name=op.f('fk_transcripts_work_order_id_work_orders'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transcripts'))
    )
    op.create_index('ix_transcripts_call_id', 'transcripts', ['call_id'], unique=False)
    op.create_index(op.f('ix_transcripts_work_order_id'), 'transcripts', ['work_order_id'], unique=False)

    op.create_table('work_order_history',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('work_order_id', sa.Integer(), nullable=False),
    sa.Column('from_status', sa.String(length=16), nullable=True),
    sa.Column('to_status', sa.String(length=16), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('ts', sa.DateTime(timezone=True), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['work_order_id'], ['work_orders.id'], name=op.f('fk_work_order_history_work_order_id_work_orders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_work_order_history'))
    )
    op.create_index('ix_work_order_history_work_order_id', 'work_order_history', ['work_order_id'], unique=False)

    op.create_table('agents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('extension', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=True),
    sa.Column('group_id', sa.Integer(), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('state_since', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("state IN ('offline', 'available', 'ringing', 'busy', 'wrapup', 'break')", name=op.f('ck_agents_state')),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], name=op.f('fk_agents_group_id_groups'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_agents_site_id_sites'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agents')),
    sa.UniqueConstraint('extension', name=op.f('uq_agents_extension'))
    )
    op.create_index(op.f('ix_agents_group_id'), 'agents', ['group_id'], unique=False)
    op.create_index(op.f('ix_agents_site_id'), 'agents', ['site_id'], unique=False)

    op.create_table('transcript_segments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('transcript_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('speaker', sa.String(length=16), nullable=True),
    sa.Column('start_sec', sa.Float(), nullable=False),
    sa.Column('end_sec', sa.Float(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('confidence', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['transcript_id'], ['transcripts.id'], name=op.f('fk_transcript_segments_transcript_id_transcripts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transcript_segments')),
    sa.UniqueConstraint('transcript_id', 'seq', name=op.f('uq_transcript_segments_transcript_id_seq'))
    )
    op.create_table('agent_skills',
    sa.Column('agent_id', sa.Integer(), nullable=False),
    sa.Column('skill_id', sa.Integer(), nullable=False),
    sa.Column('proficiency', sa.Integer(), nullable=False),
    sa.CheckConstraint('proficiency BETWEEN 1 AND 10', name=op.f('ck_agent_skills_proficiency')),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_agent_skills_agent_id_agents'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['skill_id'], ['skills.id'], name=op.f('fk_agent_skills_skill_id_skills'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('agent_id', 'skill_id', name=op.f('pk_agent_skills'))
    )
    op.create_index('ix_agent_skills_skill_id', 'agent_skills', ['skill_id'], unique=False)

    op.create_table('agent_state_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=128), nullable=True),
    sa.Column('ts', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_agent_state_events_agent_id_agents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agent_state_events'))
    )
    op.create_index('ix_agent_state_events_agent_id_ts', 'agent_state_events', ['agent_id', 'ts'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=128), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("role IN ('agent', 'supervisor', 'admin')", name=op.f('ck_users_role')),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_users_agent_id_agents'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    op.create_index(op.f('ix_users_agent_id'), 'users', ['agent_id'], unique=False)



def downgrade() -> None:
    op.drop_index(op.f('ix_users_agent_id'), table_name='users')

    op.drop_table('users')
    op.drop_index('ix_agent_state_events_agent_id_ts', table_name='agent_state_events')

    op.drop_table('agent_state_events')
    op.drop_index('ix_agent_skills_skill_id', table_name='agent_skills')

    op.drop_table('agent_skills')
    op.drop_table('transcript_segments')
    op.drop_index(op.f('ix_agents_site_id'), table_name='agents')
    op.drop_index(op.f('ix_agents_group_id'), table_name='agents')

    op.drop_table('agents')
    op.drop_index('ix_work_order_history_work_order_id', table_name='work_order_history')

    op.drop_table('work_order_history')
    op.drop_index(op.f('ix_transcripts_work_order_id'), table_name='transcripts')
    op.drop_index('ix_transcripts_call_id', table_name='transcripts')

    op.drop_table('transcripts')
    op.drop_index(op.f('ix_recordings_work_order_id'), table_name='recordings')
    op.drop_index('ix_recordings_started_at', table_name='recordings')
    op.drop_index('ix_recordings_call_id', table_name='recordings')

    op.drop_table('recordings')
    op.drop_index(op.f('ix_queues_skill_id'), table_name='queues')

    op.drop_table('queues')
    op.drop_table('ivr_events')
    op.drop_index(op.f('ix_groups_site_id'), table_name='groups')

    op.drop_table('groups')
    op.drop_index('ix_call_legs_call_id', table_name='call_legs')

    op.drop_table('call_legs')
    op.drop_index('ix_work_orders_status_created_at', table_name='work_orders')
    op.drop_index('ix_work_orders_department_status', table_name='work_orders')
    op.drop_index('ix_work_orders_call_id', table_name='work_orders')

    op.drop_table('work_orders')
    op.drop_table('skills')
    op.drop_table('sites')
    op.drop_index('ix_interval_stats_scope_kind_scope_name_interval_start', table_name='interval_stats')

    op.drop_table('interval_stats')
    op.drop_table('hotlines')
    op.drop_index(op.f('ix_flow_versions_flow_name'), table_name='flow_versions')

    op.drop_table('flow_versions')
    op.drop_index('ix_calls_started_at', table_name='calls')
    op.drop_index('ix_calls_queue_started_at', table_name='calls')
    op.drop_index('ix_calls_caller_number', table_name='calls')
    op.drop_index('ix_calls_agent_started_at', table_name='calls')

    op.drop_table('calls')
    op.drop_index('ix_callbacks_status_due_at', table_name='callbacks')
    op.drop_index('ix_callbacks_call_id', table_name='callbacks')

    op.drop_table('callbacks')
    op.drop_index('ix_audit_log_ts', table_name='audit_log')
    op.drop_index('ix_audit_log_actor_ts', table_name='audit_log')
    op.drop_index('ix_audit_log_action_ts', table_name='audit_log')

    op.drop_table('audit_log')
