//! pam_ticketgate (being written).
