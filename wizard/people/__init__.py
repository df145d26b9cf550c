"""People and sign-in: who signs in with Microsoft or a password, invitations, members and their roles."""
