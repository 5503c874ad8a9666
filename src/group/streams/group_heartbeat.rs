//! StreamsGroupHeartbeat on one group, step by step as Kafka 4.4's coordinator takes it.

use super::*;

impl StreamsGroup {
    /// One heartbeat (after [`validate`]). `created`: the group did not exist before this
    /// request (Kafka then answers endpoint epoch 0). Ok carries the answer and whether the
    /// group changed (to be stored).
    #[allow(clippy::too_many_arguments)]
    pub fn heartbeat(
        &mut self,
        group_id: &str,
        req: Heartbeat,
        topics: &dyn Fn(&str) -> Option<(Uuid, i32)>,
        settings: &Settings,
        created: bool,
        now: i64,
    ) -> Result<(Answer, bool), Refusal> {
        if req.epoch == LEAVE_EPOCH || req.epoch == STATIC_LEAVE_EPOCH {
            return self.leave(group_id, &req);
        }
        let was_empty = self.members.is_empty();
        let known = self.members.contains_key(&req.member_id)
            || req
                .instance_id
                .as_deref()
                .is_some_and(|i| self.static_member(i).is_some());
        if req.epoch == 0 && !known && self.members.len() >= settings.max_size {
            return Err(refuse(
                E::GroupMaxSizeReached,
                format!(
                    "The streams group has reached its maximum capacity of {} members.",
                    settings.max_size
                ),
            ));
        }
        let old = self.resolve_member(group_id, &req)?;
        let mut bump = false;
        let mut changed = false;

        // The member's metadata.
        let mut member = old.clone();
        member.instance_id = req.instance_id.clone();
        if req.rack_id.is_some() {
            member.rack_id = req.rack_id.clone();
        }
        if req.rebalance_timeout_ms != -1 {
            member.rebalance_timeout_ms = req.rebalance_timeout_ms;
        }
        if let Some(t) = &req.topology {
            member.topology_epoch = t.epoch;
        }
        member.client_id = req.client_id.clone();
        member.client_host = req.client_host.clone();
        if let Some(p) = &req.process_id {
            member.process_id = p.clone();
        }
        if let Some(tags) = &req.client_tags {
            member.client_tags = tags.clone();
        }
        let endpoint_before = old.user_endpoint.clone();
        if req.epoch == 0 || req.user_endpoint.is_some() {
            member.user_endpoint = req.user_endpoint.clone();
        }
        // A static member's return (under a new id) is no rebalance.
        if member != old {
            bump |= member.instance_id.is_none()
                || member.topology_epoch != old.topology_epoch
                || member.rack_id != old.rack_id
                || member.client_tags != old.client_tags
                || member.process_id != old.process_id;
        }
        changed |= member != old || !self.members.contains_key(&member.id);
        self.members.insert(member.id.clone(), member.clone());

        // The topology: the first member's; later ones must bring the same.
        match (&self.topology, &req.topology) {
            (None, Some(t)) => {
                self.topology = Some(t.clone());
                self.configured = None;
                changed = true;
            }
            (Some(g), Some(t)) if g.epoch <= t.epoch && g != t => {
                return Err(refuse(
                    E::InvalidRequest,
                    "Topology updates are not supported yet.".into(),
                ));
            }
            _ => {}
        }

        // Tasks from the topics that exist; a change of their metadata rebalances.
        if let Some(topology) = self.topology.clone() {
            let hash = Self::hash_topics(&topology, topics);
            if self.configured.is_none() || hash != self.metadata_hash {
                let lookup = |name: &str| topics(name).map(|(_, n)| n);
                self.configured = Some(configure(&topology, &lookup)?);
            }
            if hash != self.metadata_hash {
                self.metadata_hash = hash;
                bump = true;
            }
            let validated = match self
                .configured
                .as_ref()
                .and_then(|c| c.ready().then_some(c))
            {
                Some(c) => {
                    check_owned(req.owned.as_ref(), c)?;
                    topology.epoch
                }
                None => -1,
            };
            if validated != self.validated_topology_epoch {
                self.validated_topology_epoch = validated;
                bump = true;
            }
        }
        if let Some(offsets) = &req.task_offsets {
            self.task_offsets
                .entry(member.id.clone())
                .or_default()
                .extend(offsets.iter().map(|(t, o)| (t.clone(), *o)));
        }
        let configs: BTreeMap<String, String> = [(
            "num.standby.replicas".to_string(),
            settings.standby_replicas.to_string(),
        )]
        .into();
        if configs != self.assignment_configs {
            tracing::info!(
                group = group_id,
                ?configs,
                "assignment configurations changed; triggering a rebalance"
            );
            self.assignment_configs = configs;
            bump = true;
        }
        if bump {
            self.epoch += 1;
            changed = true;
        }
        if was_empty && settings.initial_delay_ms > 0 && self.initial_delay.is_none() {
            self.initial_delay = Some(now + settings.initial_delay_ms);
        }

        // The target assignment.
        let mut delayed = None;
        if self.initial_delay.is_some() {
            delayed = Some("Assignment delayed due to the configured initial rebalance delay.");
        } else if self.assignment_epoch < self.epoch {
            let waiting = self.assignment_timestamp != 0
                && settings.assignment_interval_ms != 0
                && now < self.assignment_timestamp + settings.assignment_interval_ms;
            if waiting {
                delayed = Some("Assignment delayed due to the configured assignment interval.");
            } else {
                self.compute_target(now, settings);
                changed = true;
            }
        }
        let tasks_before = self
            .members
            .get(&member.id)
            .map(|m| m.current.assigned.clone());
        changed |= self.reconcile_member(&member.id, req.owned.as_ref(), now);
        self.session
            .insert(member.id.clone(), now + settings.session_ms);
        if req.shutdown_application {
            self.shutdown_requester = Some(member.id.clone());
        }

        let Some(updated) = self.members.get(&member.id).cloned() else {
            return Err(refuse(E::UnknownServerError, "member lost".into()));
        };
        let tasks_changed = tasks_before.as_ref() != Some(&updated.current.assigned);
        let tasks = (req.epoch == 0 || tasks_changed).then(|| {
            (
                updated.current.assigned.active.keys().cloned().collect(),
                updated.current.assigned.standby.clone(),
            )
        });
        let endpoint_changed = updated.user_endpoint != endpoint_before;
        if (tasks_changed || endpoint_changed) && updated.user_endpoint.is_some() && !created {
            self.endpoint_epoch += 1;
        }
        let endpoint_epoch = if created { 0 } else { self.endpoint_epoch };
        let endpoints =
            (req.endpoint_information_epoch != endpoint_epoch).then(|| self.endpoints(topics));
        let answer = Answer {
            member_id: updated.id.clone(),
            epoch: updated.current.epoch,
            heartbeat_interval_ms: settings.heartbeat_ms,
            tasks,
            statuses: self.statuses(&updated, delayed),
            endpoint_epoch,
            endpoints,
            to_create: self
                .configured
                .as_ref()
                .map(|c| c.to_create.clone())
                .unwrap_or_default(),
        };
        Ok((answer, changed))
    }

    /// The member a heartbeat is for: Kafka's dynamic and static member rules.
    fn resolve_member(&mut self, group_id: &str, req: &Heartbeat) -> Result<Member, Refusal> {
        let Some(instance) = req.instance_id.as_deref() else {
            return match self.members.get(&req.member_id) {
                Some(m) => {
                    if req.epoch != 0 {
                        fenced_epoch(m, req)?;
                    }
                    Ok(m.clone())
                }
                None if req.epoch == 0 => Ok(Member::new(&req.member_id)),
                None => Err(refuse(
                    E::UnknownMemberId,
                    format!(
                        "Member {} is not a member of group {group_id}.",
                        req.member_id
                    ),
                )),
            };
        };
        let existing = self.static_member(instance).cloned();
        match (req.epoch, existing) {
            (0, None) => Ok(Member::new(&req.member_id)),
            (0, Some(old)) if old.id == req.member_id => Ok(old),
            (0, Some(old)) if old.current.epoch != STATIC_LEAVE_EPOCH => Err(refuse(
                E::UnreleasedInstanceId,
                format!("Static member {} with instance id {instance} cannot join the group because the instance id is owned by {} member.", req.member_id, old.id),
            )),
            (0, Some(old)) => {
                // A restarted static member takes its predecessor's place and tasks.
                let mut replaced = old.clone();
                replaced.id = req.member_id.clone();
                replaced.current.epoch = 0;
                replaced.current.previous_epoch = 0;
                self.members.remove(&old.id);
                self.session.remove(&old.id);
                self.revocation.remove(&old.id);
                if let Some(target) = self.targets.remove(&old.id) {
                    self.targets.insert(replaced.id.clone(), target);
                }
                Ok(replaced)
            }
            (_, None) => Err(refuse(
                E::UnknownMemberId,
                format!("Instance id {instance} is unknown."),
            )),
            (_, Some(old)) if old.id != req.member_id => Err(refuse(
                E::FencedInstanceId,
                format!("Static member {} with instance id {instance} was fenced by member {}.", req.member_id, old.id),
            )),
            (_, Some(old)) => {
                fenced_epoch(&old, req)?;
                Ok(old)
            }
        }
    }

    fn leave(&mut self, group_id: &str, req: &Heartbeat) -> Result<(Answer, bool), Refusal> {
        if req.shutdown_application {
            self.shutdown_requester = Some(req.member_id.clone());
        }
        let id = match req.instance_id.as_deref() {
            None => match self.members.contains_key(&req.member_id) {
                true => req.member_id.clone(),
                false => {
                    return Err(refuse(
                        E::UnknownMemberId,
                        format!(
                            "Member {} is not a member of group {group_id}.",
                            req.member_id
                        ),
                    ))
                }
            },
            Some(instance) => match self.static_member(instance) {
                None => {
                    return Err(refuse(
                        E::UnknownMemberId,
                        format!("Instance id {instance} is unknown."),
                    ))
                }
                Some(old) if old.id != req.member_id => {
                    return Err(refuse(
                        E::FencedInstanceId,
                        format!(
                            "Static member {} with instance id {instance} was fenced by member {}.",
                            req.member_id, old.id
                        ),
                    ))
                }
                Some(old) => old.id.clone(),
            },
        };
        if req.epoch == STATIC_LEAVE_EPOCH {
            // A pause: the tasks wait for the instance to come back within its session.
            if let Some(m) = self.members.get_mut(&id) {
                m.current.previous_epoch = m.current.epoch;
                m.current.epoch = STATIC_LEAVE_EPOCH;
                m.current.pending_revocation = Default::default();
                for e in m.current.assigned.active.values_mut() {
                    *e = 0;
                }
            }
            self.revocation.remove(&id);
        } else {
            self.fence(&id);
        }
        let answer = Answer {
            member_id: req.member_id.clone(),
            epoch: req.epoch,
            heartbeat_interval_ms: 0,
            tasks: None,
            statuses: Vec::new(),
            endpoint_epoch: 0,
            endpoints: None,
            to_create: Vec::new(),
        };
        Ok((answer, true))
    }
}

/// A member's reported tasks must exist in the configured topology.
fn check_owned(owned: Option<&Owned>, configured: &Configured) -> Result<(), Refusal> {
    let (Some(owned), Some(tasks)) = (owned, configured.tasks.as_ref()) else {
        return Ok(());
    };
    for (s, p) in owned.active.iter().chain(&owned.standby) {
        let Some(&n) = tasks.get(s) else {
            return Err(refuse(
                E::InvalidRequest,
                format!("Subtopology {s} does not exist in the topology."),
            ));
        };
        if *p < 0 || *p >= n {
            return Err(refuse(
                E::InvalidRequest,
                format!("Task {p} for subtopology {s} is invalid. Number of tasks for this subtopology: {n}"),
            ));
        }
    }
    Ok(())
}
