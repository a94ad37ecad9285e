//! POSIX access ACLs, read from the `system.posix_acl_access` attribute (the kernel's format: a
//! version, then tag, permissions and id per entry, little-endian): who an ACL lets read a file.
//!
//! With an access ACL the mode's group bits show the ACL's mask, not the owning group's access:
//! systemd gives a service its credentials as root-owned 0400 files plus `user:SERVICE:r`, which
//! reads as mode 0440. Such a file is a secret only that user (and root) can read.

use std::fs::File;

const XATTR: &str = "system.posix_acl_access";
const VERSION: u32 = 2;
const USER_OBJ: u16 = 0x01;
const USER: u16 = 0x02;
const GROUP_OBJ: u16 = 0x04;
const GROUP: u16 = 0x08;
const MASK: u16 = 0x10;
const OTHER: u16 = 0x20;
/// Read, write, execute.
const ALL: u16 = 0o7;
/// Far more entries than a credential's ACL has (5); a longer one is refused.
const MAX_ACL_BYTES: usize = 4 + 8 * 64;

/// Whether `file` has an access ACL that lets nobody but its owner and `uid` have any access
/// (named users other than `uid`, the owning group, named groups and others get nothing).
/// No ACL, an unreadable or malformed one: `false`.
pub(crate) fn only_owner_and(file: &File, uid: u32) -> bool {
    let mut buf = [0u8; MAX_ACL_BYTES];
    match rustix::fs::fgetxattr(file, XATTR, &mut buf[..]) {
        Ok(n) => buf
            .get(..n)
            .is_some_and(|acl| grants_only_owner_and(acl, uid)),
        Err(_) => false,
    }
}

/// One entry: tag, permissions, id.
fn entry(raw: &[u8]) -> Option<(u16, u16, u32)> {
    let (tag, rest) = raw.split_first_chunk::<2>()?;
    let (perm, rest) = rest.split_first_chunk::<2>()?;
    let (id, _) = rest.split_first_chunk::<4>()?;
    Some((
        u16::from_le_bytes(*tag),
        u16::from_le_bytes(*perm),
        u32::from_le_bytes(*id),
    ))
}

/// [`only_owner_and`] on the attribute's bytes.
pub(crate) fn grants_only_owner_and(acl: &[u8], uid: u32) -> bool {
    let Some((version, rest)) = acl.split_first_chunk::<4>() else {
        return false;
    };
    if u32::from_le_bytes(*version) != VERSION || rest.is_empty() || rest.len() % 8 != 0 {
        return false;
    }
    let Some(entries) = rest.chunks_exact(8).map(entry).collect::<Option<Vec<_>>>() else {
        return false;
    };
    // Named entries and the owning group get at most what the mask allows.
    let mask = entries
        .iter()
        .find(|(tag, _, _)| *tag == MASK)
        .map_or(ALL, |(_, perm, _)| *perm);
    entries.iter().all(|&(tag, perm, id)| match tag {
        USER_OBJ | MASK => true,
        USER => id == uid || perm & mask == 0,
        GROUP_OBJ | GROUP => perm & mask == 0,
        OTHER => perm == 0,
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ACL's bytes from (tag, perm, id) entries.
    pub(crate) fn acl(entries: &[(u16, u16, u32)]) -> Vec<u8> {
        let mut out = VERSION.to_le_bytes().to_vec();
        for (tag, perm, id) in entries {
            out.extend(tag.to_le_bytes());
            out.extend(perm.to_le_bytes());
            out.extend(id.to_le_bytes());
        }
        out
    }

    const ANY: u32 = u32::MAX;

    #[test]
    fn systemds_credential_acl_grants_only_the_service_user() {
        let credential = [
            (USER_OBJ, 4, ANY),
            (USER, 4, 990),
            (GROUP_OBJ, 0, ANY),
            (MASK, 4, ANY),
            (OTHER, 0, ANY),
        ];
        assert!(grants_only_owner_and(&acl(&credential), 990));
        assert!(!grants_only_owner_and(&acl(&credential), 991));
    }

    #[test]
    fn any_other_reader_or_a_malformed_acl_is_refused() {
        let base = |extra: (u16, u16, u32), group: u16, other: u16| {
            acl(&[
                (USER_OBJ, 4, ANY),
                (USER, 4, 990),
                extra,
                (GROUP_OBJ, group, ANY),
                (MASK, 4, ANY),
                (OTHER, other, ANY),
            ])
        };
        assert!(grants_only_owner_and(&base((USER, 0, 7), 0, 0), 990));
        assert!(!grants_only_owner_and(&base((USER, 4, 7), 0, 0), 990));
        assert!(!grants_only_owner_and(&base((GROUP, 4, 7), 0, 0), 990));
        assert!(!grants_only_owner_and(&base((USER, 0, 7), 4, 0), 990));
        assert!(!grants_only_owner_and(&base((USER, 0, 7), 0, 4), 990));
        // Beyond the mask a permission is void; within it, execute counts as much as read.
        assert!(grants_only_owner_and(&base((USER, 1, 7), 0, 0), 990));
        let wide_mask = acl(&[
            (USER_OBJ, 4, ANY),
            (USER, 4, 990),
            (USER, 1, 7),
            (GROUP_OBJ, 0, ANY),
            (MASK, 5, ANY),
            (OTHER, 0, ANY),
        ]);
        assert!(!grants_only_owner_and(&wide_mask, 990));
        let good = acl(&[
            (USER_OBJ, 4, ANY),
            (USER, 4, 990),
            (GROUP_OBJ, 0, ANY),
            (MASK, 4, ANY),
            (OTHER, 0, ANY),
        ]);
        for bad in [
            &good[..3],
            &good[..good.len() - 1],
            &good[..4],
            &[3, 0, 0, 0][..],
        ] {
            assert!(!grants_only_owner_and(bad, 990), "{bad:?}");
        }
        let unknown_tag = acl(&[(USER_OBJ, 4, ANY), (0x40, 0, ANY), (OTHER, 0, ANY)]);
        assert!(!grants_only_owner_and(&unknown_tag, 990));
    }
}
