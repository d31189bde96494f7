//! Who is on each project topic (`topics::keeps_presence`), for the hubs that hold sockets (the native hub, the Durable
//! Object). A user is on a topic while at least one of their connections has joined it; the other
//! connections on the topic hear when the user arrives with their first connection and leaves
//! with their last. No I/O here: a hub keeps one of these and sends the changes it returns.

use std::{
    borrow::Borrow,
    collections::{HashMap, HashSet},
    hash::Hash,
};

use uuid::Uuid;

use crate::protocol::frame;

/// A user arriving on a topic or leaving it: what the topic's other connections are told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub topic: String,
    pub user: Uuid,
    pub joined: bool,
}

impl Change {
    pub fn frame(&self) -> String {
        frame::presence_change(&self.topic, self.user, self.joined)
    }
}

/// Joined topics of one connection.
#[derive(Debug)]
struct Joined {
    user: Uuid,
    topics: HashSet<String>,
}

/// The presence of one hub, keyed by whatever names its connections (`C`).
#[derive(Debug)]
pub struct Presence<C> {
    connections: HashMap<C, Joined>,
    /// Per topic, how many connections each present user has on it.
    topics: HashMap<String, HashMap<Uuid, usize>>,
}

impl<C> Default for Presence<C> {
    fn default() -> Self {
        Self { connections: HashMap::new(), topics: HashMap::new() }
    }
}

impl<C: Eq + Hash + Clone> Presence<C> {
    /// Joins `connection` of `user` to `topics`. Returns who is on each topic now (sorted, the
    /// user included), and the arrivals to tell the others; joining a topic twice is once.
    pub fn join(&mut self, connection: &C, user: Uuid, topics: &[String]) -> (Vec<(String, Vec<Uuid>)>, Vec<Change>) {
        let mut here = Vec::with_capacity(topics.len());
        let mut arrivals = Vec::new();
        for topic in topics {
            let joined = self.connections.entry(connection.clone()).or_insert_with(|| Joined { user, topics: HashSet::new() });
            if joined.topics.insert(topic.clone()) {
                let count = self.topics.entry(topic.clone()).or_default().entry(joined.user).or_default();
                *count += 1;
                if *count == 1 {
                    arrivals.push(Change { topic: topic.clone(), user: joined.user, joined: true });
                }
            }
            here.push((topic.clone(), self.users(topic)));
        }
        (here, arrivals)
    }

    /// Takes `connection` off those of `topics` it joined; returns the departures to tell.
    pub fn leave<Q: Eq + Hash + ?Sized>(&mut self, connection: &Q, topics: &[String]) -> Vec<Change>
    where
        C: Borrow<Q>,
    {
        let Some(joined) = self.connections.get_mut(connection) else { return Vec::new() };
        let user = joined.user;
        let left: Vec<&String> = topics.iter().filter(|topic| joined.topics.remove(*topic)).collect();
        if joined.topics.is_empty() {
            self.connections.remove(connection);
        }
        left.into_iter()
            .filter(|topic| self.drop_one(topic, user))
            .map(|topic| Change { topic: topic.clone(), user, joined: false })
            .collect()
    }

    /// Takes `connection` off every topic it joined (it closed); returns the departures to tell.
    pub fn leave_all<Q: Eq + Hash + ?Sized>(&mut self, connection: &Q) -> Vec<Change>
    where
        C: Borrow<Q>,
    {
        let topics: Vec<String> =
            self.connections.get(connection).map(|joined| joined.topics.iter().cloned().collect()).unwrap_or_default();
        self.leave(connection, &topics)
    }

    /// The users on `topic`, sorted.
    pub fn users(&self, topic: &str) -> Vec<Uuid> {
        let mut users: Vec<Uuid> = self.topics.get(topic).map(|users| users.keys().copied().collect()).unwrap_or_default();
        users.sort_unstable();
        users
    }

    /// Counts one connection of `user` fewer on `topic`; whether it was their last.
    fn drop_one(&mut self, topic: &str, user: Uuid) -> bool {
        let Some(users) = self.topics.get_mut(topic) else { return false };
        let Some(count) = users.get_mut(&user) else { return false };
        *count -= 1;
        if *count > 0 {
            return false;
        }
        users.remove(&user);
        if users.is_empty() {
            self.topics.remove(topic);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topics(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| (*name).to_owned()).collect()
    }

    #[test]
    fn a_user_arrives_with_their_first_connection_and_leaves_with_their_last() {
        let (ada, bob) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let mut presence = Presence::default();
        let (here, arrivals) = presence.join(&1, ada, &topics(&["project:a"]));
        assert_eq!(here, [("project:a".to_owned(), vec![ada])]);
        assert_eq!(arrivals, [Change { topic: "project:a".into(), user: ada, joined: true }]);

        let (_, arrivals) = presence.join(&2, ada, &topics(&["project:a"]));
        assert!(arrivals.is_empty(), "a second connection of someone already here");
        let (here, _) = presence.join(&3, bob, &topics(&["project:a"]));
        assert_eq!(here, [("project:a".to_owned(), vec![ada, bob])]);

        assert!(presence.leave(&1, &topics(&["project:a"])).is_empty(), "ada is still here on connection 2");
        assert_eq!(presence.leave_all(&2), [Change { topic: "project:a".into(), user: ada, joined: false }]);
        assert_eq!(presence.users("project:a"), [bob]);
    }

    #[test]
    fn joining_twice_counts_once_and_leaving_what_was_not_joined_says_nothing() {
        let ada = Uuid::from_u128(1);
        let mut presence = Presence::default();
        presence.join(&"c", ada, &topics(&["project:a"]));
        let (_, arrivals) = presence.join(&"c", ada, &topics(&["project:a", "project:b"]));
        assert_eq!(arrivals, [Change { topic: "project:b".into(), user: ada, joined: true }]);
        assert!(presence.leave(&"c", &topics(&["project:z"])).is_empty());
        assert!(presence.leave(&"other", &topics(&["project:a"])).is_empty());
        assert_eq!(presence.leave(&"c", &topics(&["project:a"])).len(), 1, "one join, one leave");
        assert_eq!(presence.leave_all(&"c").len(), 1);
        assert!(presence.connections.is_empty() && presence.topics.is_empty(), "nothing kept for who is gone");
    }

    #[test]
    fn changes_are_the_presence_frames_of_the_protocol() {
        let ada = Uuid::from_u128(1);
        let change = Change { topic: "project:a".into(), user: ada, joined: false };
        assert_eq!(change.frame(), frame::presence_change("project:a", ada, false));
    }
}
