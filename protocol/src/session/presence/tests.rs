use super::*;

fn id(n: u64) -> ClientID {
    ClientID::new(n)
}

fn message(entries: &[(u64, u32, &str)]) -> AwarenessUpdate {
    let clients = entries
        .iter()
        .map(|&(client, clock, json)| {
            let entry = AwarenessUpdateEntry {
                clock,
                json: json.into(),
            };
            (id(client), entry)
        })
        .collect();
    AwarenessUpdate { clients }
}

fn present(p: &Presence) -> Vec<(u64, String)> {
    let mut all: Vec<_> = p.present().map(|(c, s)| (c.get(), s.to_owned())).collect();
    all.sort();
    all
}

#[test]
fn nobody_present_allocates_nothing() {
    let p = Presence::default();
    assert_eq!(p.clients.capacity(), 0);
    assert!(p.everyone().clients.is_empty());
}

#[test]
fn newer_clocks_win_and_stale_or_repeated_messages_change_nothing() {
    let mut p = Presence::default();
    let added = p.apply(message(&[(1, 3, r#"{"a":1}"#)]));
    assert_eq!(added.map(|s| s.added), Some(vec![id(1)]));
    assert_eq!(
        p.apply(message(&[(1, 3, r#"{"a":1}"#)])),
        None,
        "same clock"
    );
    assert_eq!(
        p.apply(message(&[(1, 2, r#"{"a":0}"#)])),
        None,
        "older clock"
    );
    assert_eq!(present(&p), vec![(1, r#"{"a":1}"#.to_owned())]);
    let renewed = p.apply(message(&[(1, 4, r#"{"a":1}"#)]));
    assert_eq!(
        renewed.map(|s| s.updated),
        Some(vec![id(1)]),
        "a renewal is relayed"
    );
    let announced = p.update_for([id(1)]).expect("1 is known");
    assert_eq!(announced.clients[&id(1)].clock, 4);
}

#[test]
fn null_with_the_known_clock_removes_and_the_clock_guards_against_a_late_message() {
    let mut p = Presence::default();
    p.apply(message(&[(1, 3, "{}")]));
    let removed = p.apply(message(&[(1, 3, NULL)]));
    assert_eq!(removed.map(|s| s.removed), Some(vec![id(1)]));
    assert!(present(&p).is_empty());
    assert_eq!(p.apply(message(&[(1, 3, "{}")])), None, "stale: not back");
    assert_eq!(p.apply(message(&[(1, 3, NULL)])), None, "already removed");
    let back = p.apply(message(&[(1, 4, "{}")]));
    assert_eq!(back.map(|s| s.added), Some(vec![id(1)]));
}

#[test]
fn removing_an_unknown_client_remembers_nothing() {
    let mut p = Presence::default();
    assert_eq!(p.apply(message(&[(9, 1, NULL)])), None);
    assert_eq!(p.known(), 0);
}

#[test]
fn a_closed_connection_removes_its_clients_keeping_their_clocks() {
    let mut p = Presence::default();
    p.apply(message(&[(1, 5, "{}"), (2, 1, "{}")]));
    assert_eq!(p.remove([id(1), id(3)]), vec![id(1)], "3 was never here");
    assert_eq!(p.remove([id(1)]), Vec::<ClientID>::new(), "already gone");
    // Peers hear the removal with the client's own clock: y-protocols removes on an equal
    // clock with a null state.
    let announced = p.update_for([id(1)]).expect("1 is known");
    let entry = &announced.clients[&id(1)];
    assert_eq!((entry.clock, &*entry.json), (5, NULL));
    assert_eq!(present(&p), vec![(2, "{}".to_owned())]);
}

#[test]
fn announcements_list_only_known_clients() {
    let mut p = Presence::default();
    p.apply(message(&[(1, 1, "{}")]));
    assert!(p.update_for([id(2)]).is_none());
    let update = p.update_for([id(1), id(2)]).expect("1 is known");
    assert_eq!(update.clients.len(), 1);
    assert_eq!(p.everyone().clients.len(), 1);
}

#[test]
fn tombstones_past_the_limit_are_forgotten_and_present_clients_stay() {
    let mut p = Presence::default();
    p.apply(message(&[(0, 1, "{}")]));
    for n in 1..=MAX_TOMBSTONES as u64 {
        p.apply(message(&[(n, 1, "{}")]));
        p.apply(message(&[(n, 1, NULL)]));
    }
    assert_eq!(p.known(), MAX_TOMBSTONES + 1, "at the limit: all kept");
    let last = MAX_TOMBSTONES as u64 + 1;
    p.apply(message(&[(last, 1, "{}")]));
    p.apply(message(&[(last, 1, NULL)]));
    assert_eq!(p.known(), MAX_TOMBSTONES + 2, "past it, but just removed");
    assert!(
        p.update_for([id(last)]).is_some(),
        "the removal can still be announced"
    );
    // The next change forgets every tombstone; present clients stay.
    p.apply(message(&[(last + 1, 1, "{}")]));
    assert_eq!(p.known(), 2);
    let mut ids: Vec<_> = present(&p).into_iter().map(|(c, _)| c).collect();
    ids.sort();
    assert_eq!(ids, vec![0, last + 1]);
    assert_eq!(p.remove([id(last + 1)]), vec![id(last + 1)]);
    assert_eq!(p.known(), 2, "counting started again from zero");
}

#[test]
fn another_nodes_clients_expire_unless_renewed_and_are_not_announced_as_ours() {
    let start = Instant::now();
    let mut p = Presence::default();
    p.apply(message(&[(1, 1, r#"{"here":1}"#)]));
    let added = p.apply_remote(message(&[(2, 7, "{}"), (3, 1, "{}")]), start);
    assert_eq!(added.map(|s| s.added.len()), Some(2));
    assert!(p.expire(start).others_present);
    assert_eq!(p.present().count(), 3, "everyone sees all three");
    let ours = p.own_update_for([id(1), id(2), id(3)]).expect("1 is ours");
    assert_eq!(
        ours.clients.keys().copied().collect::<Vec<_>>(),
        vec![id(1)]
    );
    let listed = p.own_everyone().expect("1 is ours");
    assert_eq!(listed.clients.len(), 1);

    // 2 is renewed half-way; 3 stays silent.
    let half = start + REMOTE_TIMEOUT / 2;
    p.apply_remote(message(&[(2, 8, "{}")]), half);
    assert!(p
        .expire(start + REMOTE_TIMEOUT - Duration::from_millis(1))
        .expired
        .is_empty());
    let swept = p.expire(start + REMOTE_TIMEOUT);
    assert_eq!(swept.expired, vec![id(3)]);
    assert!(swept.others_present, "2 was renewed");
    // Its removal goes out with its clock, and an echo of its last state cannot revive it.
    let entry = &p.update_for([id(3)]).expect("3 is known").clients[&id(3)];
    assert_eq!((entry.clock, &*entry.json), (1, NULL));
    assert_eq!(p.apply(message(&[(3, 1, "{}")])), None);
    let swept = p.expire(half + REMOTE_TIMEOUT);
    assert_eq!(swept.expired, vec![id(2)]);
    assert!(!swept.others_present);
    assert_eq!(present(&p), vec![(1, r#"{"here":1}"#.to_owned())]);
    assert!(
        p.expire(start + REMOTE_TIMEOUT * 10).expired.is_empty(),
        "ours never expire"
    );
}

#[test]
fn a_closing_connection_leaves_a_state_another_node_took_over() {
    let now = Instant::now();
    let mut p = Presence::default();
    p.apply(message(&[(1, 1, "{}")]));
    // The client reconnected to another node, which announces a newer clock.
    p.apply_remote(message(&[(1, 2, "{}")]), now);
    assert_eq!(p.remove([id(1)]), Vec::<ClientID>::new());
    assert_eq!(p.present().count(), 1);
    assert!(p.own_update_for([id(1)]).is_none());
    // And back here: ours again, removed with its connection.
    p.apply(message(&[(1, 3, "{}")]));
    assert!(!p.expire(now).others_present);
    assert!(p.own_update_for([id(1)]).is_some());
    assert_eq!(p.remove([id(1)]), vec![id(1)]);
    let removal = p
        .own_update_for([id(1)])
        .expect("the removal is ours to announce");
    assert_eq!(&*removal.clients[&id(1)].json, NULL);
}
