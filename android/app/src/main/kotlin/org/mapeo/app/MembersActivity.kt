// Members: who is in the project and with which role; a coordinator invites a nearby device
// (connected through Exchange) with a role, changes roles and removes members, and offers a
// map to a member's connected device (through the MapShares seam, once wired).
package org.mapeo.app

import android.app.AlertDialog
import android.content.Intent
import android.os.Bundle
import android.widget.LinearLayout
import org.mapeo.app.logic.MembersViewState
import org.mapeo.app.logic.membersViewState
import uniffi.mapeo_ffi.AssignableRole
import uniffi.mapeo_ffi.InviteOutcome
import uniffi.mapeo_ffi.InviteRole

class MembersActivity : Screen() {
    private lateinit var box: LinearLayout

    override fun create(state: Bundle?) {
        box = column()
        show(box)
    }

    override fun onStart() {
        super.onStart()
        if (isFinishing) return
        refresh()
    }

    private fun refresh() {
        work({
            val p = project()
            membersViewState(device.deviceId(), p.ownRole(), p.members(true), device.peers())
        }) { r -> r.onSuccess(::render).onFailure { toast(message(it)) } }
    }

    /** Offers one of this phone's maps to [deviceId] (it must be connected, through Exchange). */
    private fun shareMap(deviceId: String, name: String) {
        val library = app.mapLibrary ?: return
        val shares = app.mapShares ?: return
        work({ library.maps() }) { r ->
            val maps = r.getOrElse { toast(message(it)); return@work }
            if (maps.isEmpty()) {
                toast("No map on this phone to share")
                return@work
            }
            AlertDialog.Builder(this).setTitle("Share a map with $name").setItems(maps.map { it.name }.toTypedArray()) { _, i ->
                work({ shares.share(maps[i].mapId, deviceId) }) { sent ->
                    sent.onSuccess { toast("Map offered to $name") }.onFailure { toast(message(it)) }
                }
            }.show()
        }
    }

    private fun render(s: MembersViewState) {
        box.removeAllViews()
        box.label("Members", 22f, bold = true)
        for (m in s.members) {
            box.label(m.name + if (m.isMe) " (this phone)" else "", bold = true)
            box.label(m.roleText, 14f)
            if (!m.manageable) continue
            val actions = row().also { box.addView(it) }
            actions.button("Change role") {
                val roles = arrayOf("Coordinator", "Member")
                AlertDialog.Builder(this).setTitle("Role of ${m.name}").setItems(roles) { _, which ->
                    val role = if (which == 0) AssignableRole.COORDINATOR else AssignableRole.MEMBER
                    work({ project().assignRole(m.deviceId, role) }) { r -> r.onSuccess { refresh() }.onFailure { toast(message(it)) } }
                }.show()
            }
            if (!m.isMe && app.mapShares != null && app.mapLibrary != null) {
                actions.button("Share a map") { shareMap(m.deviceId, m.name) }
            }
            actions.button("Remove") {
                confirm("Remove ${m.name}?", "It will receive nothing more from this project, and what it writes from now on is ignored.", "Remove") {
                    work({ project().removeMember(m.deviceId, null) }) { r -> r.onSuccess { refresh() }.onFailure { toast(message(it)) } }
                }
            }
        }
        if (!s.canInvite) {
            box.label("Only coordinators can invite.", 14f)
            return
        }
        box.label("Invite a nearby device", 18f, bold = true)
        if (s.candidates.isEmpty()) {
            box.label("No device to invite: start Exchange on both phones (the new one too), then come back.", 14f)
            box.button("Open Exchange") { startActivity(Intent(this, ExchangeActivity::class.java)) }
        }
        for (cand in s.candidates) {
            box.button("Invite ${cand.name}") {
                val roles = arrayOf("Member", "Coordinator")
                AlertDialog.Builder(this).setTitle("Invite ${cand.name} as").setItems(roles) { _, which ->
                    val role = if (which == 0) InviteRole.MEMBER else InviteRole.COORDINATOR
                    toast("Invite sent: waiting for ${cand.name} to answer")
                    val projectId = project().projectId()
                    work({ device.invite(projectId, cand.deviceId, role, null, null) }) { r ->
                        r.onSuccess { outcome ->
                            toast(when (outcome) {
                                InviteOutcome.ACCEPTED -> "${cand.name} joined"
                                InviteOutcome.ALREADY -> "${cand.name} was already in the project"
                                InviteOutcome.REJECTED -> "${cand.name} said no"
                                InviteOutcome.CANCELED -> "The invite was withdrawn"
                            })
                            refresh()
                        }.onFailure { toast(message(it)) }
                    }
                }.show()
            }
        }
    }
}
