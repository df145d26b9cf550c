"""A role assignment made with -RecipientGroupScope, as Exchange Online reads it back: RecipientWriteScope `Group`
and the group in CustomResourceScope (its Name, or "<group name>_<guid>", the management scope Exchange made for it),
with no RecipientGroupScope property (public scripts checked against live tenants; sandbox/WIRE.md [GROUPSCOPE])."""

import pytest

from wizard.services.grants import rbac_finding


@pytest.mark.parametrize(
    "custom_resource_scope",
    ["Executives", "Executives_20d5848c-4d61-4b82-a44f-205adc37321f"],
)
def test_a_group_scoped_assignment_is_told_as_the_groups_direct_members(custom_resource_scope):
    assignment = {
        "Name": "Application Mail.Read-executives",
        "Role": "Application Mail.Read",
        "RecipientWriteScope": "Group",
        "CustomRecipientWriteScope": None,
        "CustomResourceScope": custom_resource_scope,
    }

    finding = rbac_finding(assignment, "Onramp rooms")

    assert "over the direct members of the group Executives" in finding.what


def test_a_management_scope_assignment_is_still_told_as_its_scope():
    assignment = {
        "Name": "Mail.Read rooms",
        "Role": "Application Mail.Read",
        "RecipientWriteScope": "CustomRecipientScope",
        "CustomResourceScope": "Sales",
    }

    assert "over the mailboxes of the scope Sales" in rbac_finding(assignment, "Onramp rooms").what
