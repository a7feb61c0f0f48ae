// Members: who is in the project and with which role; a coordinator invites a nearby device
// (connected through Exchange) with a role, changes roles and removes members.
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
