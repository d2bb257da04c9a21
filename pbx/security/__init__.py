"""Security: ACLs, the ban list, the SIP guard, the security log, exposure checks."""
