//! ticketgate-protectd: the login-protect server (being written).
