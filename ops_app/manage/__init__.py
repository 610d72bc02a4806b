"""The admins' management pages: users and roles, portfolios, instruments, and the audit list of every change."""
