// The members screen and the invites on the projects screen: who is in the project and with
// which role, what this device may do about it, which nearby devices can be invited, and the
// invites waiting for an answer here.
package org.mapeo.app.logic

import java.time.Instant
import java.time.ZoneId
import java.time.format.DateTimeFormatter
import java.util.Locale
import uniffi.mapeo_ffi.InviteRole
import uniffi.mapeo_ffi.InviteState
import uniffi.mapeo_ffi.Member
import uniffi.mapeo_ffi.PeerInfo
import uniffi.mapeo_ffi.ReceivedInvite
import uniffi.mapeo_ffi.Role

/** How a role is called on screen. */
fun roleLabel(role: Role): String = when (role) {
    Role.CREATOR -> "Creator"
    Role.COORDINATOR -> "Coordinator"
    Role.MEMBER -> "Member"
    Role.BLOCKED -> "Removed"
    Role.LEFT -> "Left"
    Role.NO_ROLE -> "No role yet"
}

/** Whether a device with [role] may invite, remove and change roles. */
fun canManage(role: Role): Boolean = role == Role.CREATOR || role == Role.COORDINATOR

/** One member row. */
data class MemberRow(
    val deviceId: String,
    val name: String,
    val role: Role,
    val roleText: String,
    val isMe: Boolean,
    /** This device may remove it or change its role (never the creator's, never itself). */
    val manageable: Boolean,
)

/** A nearby device that can be invited. */
data class InviteCandidate(val deviceId: String, val name: String)

/** Everything the members screen shows. */
data class MembersViewState(
    val members: List<MemberRow>,
    val canInvite: Boolean,
    val candidates: List<InviteCandidate>,
)

/** Roles in the order shown: the creator, coordinators, members, then the rest. */
private val ROLE_ORDER = listOf(Role.CREATOR, Role.COORDINATOR, Role.MEMBER, Role.NO_ROLE, Role.LEFT, Role.BLOCKED)

/** Short form of a device id, for a device with no name. */
fun shortId(deviceId: String): String = deviceId.take(8)

fun membersViewState(myDeviceId: String, myRole: Role, members: List<Member>, peers: List<PeerInfo>): MembersViewState {
    val manager = canManage(myRole)
    val rows = members.map { m ->
        MemberRow(
            deviceId = m.deviceId,
            name = m.name?.takeIf { it.isNotBlank() } ?: "Device ${shortId(m.deviceId)}",
            role = m.role,
            roleText = roleLabel(m.role),
            isMe = m.deviceId == myDeviceId,
            manageable = manager && m.deviceId != myDeviceId && m.role != Role.CREATOR &&
                m.role != Role.BLOCKED && m.role != Role.LEFT,
        )
    }.sortedWith(compareBy<MemberRow>({ ROLE_ORDER.indexOf(it.role) }, { it.name.lowercase() }, { it.deviceId }))
    val inProject = members.filter { it.role != Role.LEFT && it.role != Role.BLOCKED && it.role != Role.NO_ROLE }
        .map { it.deviceId }.toSet()
    val candidates = if (!manager) emptyList() else peers
        .filter { it.connected && it.deviceId != myDeviceId && it.deviceId !in inProject }
        .map { InviteCandidate(it.deviceId, it.name.ifBlank { "Device ${shortId(it.deviceId)}" }) }
        .sortedBy { it.name.lowercase() }
    return MembersViewState(rows, manager, candidates)
}

/** One invite waiting for this device's answer. */
data class InviteRow(val inviteId: String, val title: String, val detail: String)

/** Pending invites, newest first, worded for the projects screen. */
fun inviteRows(invites: List<ReceivedInvite>, zone: ZoneId = ZoneId.systemDefault(), locale: Locale = Locale.getDefault()): List<InviteRow> {
    val dates = DateTimeFormatter.ofPattern("d MMM, HH:mm", locale).withZone(zone)
    return invites.filter { it.state == InviteState.PENDING }
        .sortedWith(compareByDescending<ReceivedInvite> { it.receivedAt }.thenBy { it.inviteId })
        .map { inv ->
            val project = inv.projectName?.takeIf { it.isNotBlank() } ?: "a project"
            val role = inv.roleName?.takeIf { it.isNotBlank() } ?: when (inv.role) {
                InviteRole.COORDINATOR -> "coordinator"
                InviteRole.MEMBER -> "member"
            }
            InviteRow(
                inviteId = inv.inviteId,
                title = "${inv.inviterName} invites you to $project",
                detail = "As $role · ${dates.format(Instant.ofEpochMilli(inv.receivedAt))}" +
                    (inv.projectDescription?.takeIf { it.isNotBlank() }?.let { " · $it" } ?: ""),
            )
        }
}
