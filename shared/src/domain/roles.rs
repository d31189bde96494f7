use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A user's site-wide role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Moderator,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Moderator => "moderator",
            Self::Member => "member",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "admin" => Some(Self::Admin),
            "moderator" => Some(Self::Moderator),
            "member" => Some(Self::Member),
            _ => None,
        }
    }
}

/// A member's role in one project. The order is the order of power: each role can do
/// everything the ones before it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProjectRole {
    Viewer,
    Contributor,
    Maintainer,
    Owner,
}

impl ProjectRole {
    pub const ALL: [ProjectRole; 4] = [Self::Viewer, Self::Contributor, Self::Maintainer, Self::Owner];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Contributor => "contributor",
            Self::Maintainer => "maintainer",
            Self::Owner => "owner",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "viewer" => Some(Self::Viewer),
            "contributor" => Some(Self::Contributor),
            "maintainer" => Some(Self::Maintainer),
            "owner" => Some(Self::Owner),
            _ => None,
        }
    }

    pub fn at_least(self, needed: ProjectRole) -> bool {
        self >= needed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_roles_are_ordered_by_power() {
        assert!(ProjectRole::Owner.at_least(ProjectRole::Maintainer));
        assert!(ProjectRole::Maintainer.at_least(ProjectRole::Contributor));
        assert!(!ProjectRole::Viewer.at_least(ProjectRole::Contributor));
        for role in [ProjectRole::Viewer, ProjectRole::Contributor, ProjectRole::Maintainer, ProjectRole::Owner] {
            assert_eq!(ProjectRole::parse(role.as_str()), Some(role));
        }
        for role in [Role::Admin, Role::Moderator, Role::Member] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
    }
}
