//! The GECOS field of a passwd entry, split into its five comma-separated parts.

use serde::Serialize;

/// The GECOS field as `chfn` writes it: full name, room, work phone, home phone, other.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Gecos {
    /// Full name (first field).
    pub full_name: String,
    /// Room or office number (second field).
    pub room: String,
    /// Work phone (third field).
    pub work_phone: String,
    /// Home phone (fourth field).
    pub home_phone: String,
    /// Everything after the fourth comma, commas included.
    pub other: String,
}

impl Gecos {
    /// Splits a raw GECOS string; missing fields are empty, spaces are kept as written.
    pub fn parse(raw: &str) -> Gecos {
        let mut parts = raw.splitn(5, ',');
        let mut next = || parts.next().unwrap_or_default().to_owned();
        Gecos {
            full_name: next(),
            room: next(),
            work_phone: next(),
            home_phone: next(),
            other: next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gecos(full_name: &str, room: &str, work: &str, home: &str, other: &str) -> Gecos {
        Gecos {
            full_name: full_name.into(),
            room: room.into(),
            work_phone: work.into(),
            home_phone: home.into(),
            other: other.into(),
        }
    }

    #[test]
    fn all_five_fields_are_split_in_order() {
        assert_eq!(
            Gecos::parse("Alice Liddell,R101,+1 555 0100,+1 555 0199,on call"),
            gecos(
                "Alice Liddell",
                "R101",
                "+1 555 0100",
                "+1 555 0199",
                "on call"
            )
        );
    }

    #[test]
    fn missing_trailing_fields_are_empty() {
        assert_eq!(Gecos::parse("Bob"), gecos("Bob", "", "", "", ""));
        assert_eq!(Gecos::parse("Bob,B2"), gecos("Bob", "B2", "", "", ""));
        assert_eq!(Gecos::parse("Bob,,555"), gecos("Bob", "", "555", "", ""));
    }

    #[test]
    fn empty_gecos_gives_all_empty_fields() {
        assert_eq!(Gecos::parse(""), Gecos::default());
        assert_eq!(Gecos::parse(",,,,"), Gecos::default());
    }

    #[test]
    fn extra_commas_stay_in_other() {
        assert_eq!(
            Gecos::parse("Carol,R1,1,2,a,b,,c"),
            gecos("Carol", "R1", "1", "2", "a,b,,c")
        );
        assert_eq!(Gecos::parse(",,,,,"), gecos("", "", "", "", ","));
    }

    #[test]
    fn spaces_are_kept_as_written() {
        assert_eq!(
            Gecos::parse(" Dave  Jones , room 7 ,, ,  x "),
            gecos(" Dave  Jones ", " room 7 ", "", " ", "  x ")
        );
    }
}
