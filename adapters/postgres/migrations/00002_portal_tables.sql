-- The status store's tables (schema portal). Their columns are the contract
-- of the design page; sync_pass is the adapter's own bookkeeping (which
-- sync pass last stored the row) and has a default.
--
-- Every column an access rule of public.portal_certification_statuses
-- filters on is indexed. RLS is enabled on every table with no policy for
-- anon or authenticated, and neither role has a grant: people are served
-- only through that function. service_role (the server-side key on
-- Supabase) may read every table and maintain people and chapter_admins.

-- +goose Up
create schema portal;
revoke all on schema portal from public;
grant usage on schema portal to service_role;

create table portal.certifications (
  id          uuid primary key,
  mentor_id   uuid not null,
  name        text not null,
  type        integer,
  issued_on   date,
  expires_on  date,
  active      boolean not null,
  status      text not null check (status in ('valid', 'expiring', 'expired', 'inactive')),
  modified_on timestamptz,
  synced_at   timestamptz not null,
  sync_pass   bigint not null default 0
);
create index certifications_mentor_status_idx on portal.certifications (mentor_id, status);

create table portal.assignments (
  id             uuid primary key,
  mentor_id      uuid not null,
  coordinator_id uuid not null,
  chapter_id     uuid,
  starts_on      date,
  ends_on        date,
  active         boolean not null,
  modified_on    timestamptz,
  synced_at      timestamptz not null,
  sync_pass      bigint not null default 0
);
-- The coordinator rule: a coordinator's current assignments.
create index assignments_coordinator_idx on portal.assignments (coordinator_id, mentor_id)
  include (active, starts_on, ends_on);
-- The chapter rule and the chapter filter: a chapter's current assignments.
create index assignments_chapter_idx on portal.assignments (chapter_id, mentor_id)
  include (active, starts_on, ends_on);
-- A mentor's assignments.
create index assignments_mentor_idx on portal.assignments (mentor_id);

create table portal.people (
  user_id    uuid primary key,
  contact_id uuid not null unique
);

create table portal.chapter_admins (
  user_id    uuid,
  chapter_id uuid,
  primary key (user_id, chapter_id)
);
create index chapter_admins_chapter_idx on portal.chapter_admins (chapter_id);

-- The progress of the sync pass in progress (one row at most).
create table portal.sync_checkpoint (
  id         boolean primary key default true check (id),
  checkpoint jsonb not null,
  saved_at   timestamptz not null default now()
);
-- Numbers the sync passes, for sync_pass.
create sequence portal.sync_pass_seq;

revoke all on all tables in schema portal from public, anon, authenticated;
revoke all on all sequences in schema portal from public, anon, authenticated;
alter table portal.certifications enable row level security;
alter table portal.assignments enable row level security;
alter table portal.people enable row level security;
alter table portal.chapter_admins enable row level security;
alter table portal.sync_checkpoint enable row level security;

grant select on portal.certifications, portal.assignments, portal.people, portal.chapter_admins to service_role;
grant insert, update, delete on portal.people, portal.chapter_admins to service_role;
create policy service_role_reads on portal.certifications for select to service_role using (true);
create policy service_role_reads on portal.assignments for select to service_role using (true);
create policy service_role_maintains on portal.people for all to service_role using (true) with check (true);
create policy service_role_maintains on portal.chapter_admins for all to service_role using (true) with check (true);

-- +goose Down
drop schema portal cascade;
