// Projects: the ones this phone is in, creating one, and invites waiting for an answer.
package org.mapeo.app

import android.content.Intent
import android.os.Bundle
import android.widget.LinearLayout
import org.mapeo.app.logic.InviteRow
import org.mapeo.app.logic.inviteRows
import uniffi.mapeo_ffi.InviteListener
import uniffi.mapeo_ffi.ProjectSettings
import uniffi.mapeo_ffi.ProjectStatus
import uniffi.mapeo_ffi.ReceivedInvite
import uniffi.mapeo_ffi.TaskHandle

class ProjectsActivity : Screen() {
    private lateinit var invitesBox: LinearLayout
    private lateinit var projectsBox: LinearLayout
    private var invites: TaskHandle? = null

    override fun create(state: Bundle?) {
        val c = column()
        c.label("Projects", 22f, bold = true)
        invitesBox = column().also { it.setPadding(0, 0, 0, 0); c.addView(it) }
        projectsBox = column().also { it.setPadding(0, 0, 0, 0); c.addView(it) }
        c.label("New project", 18f, bold = true)
        val name = c.input("Project name")
        c.button("Create project") {
            val n = name.text.toString().trim()
            if (n.isEmpty()) { name.error = "Give the project a name"; return@button }
            work({ device.createProject(ProjectSettings(name = n)) }) { r ->
                r.onSuccess { name.setText(""); refresh() }.onFailure { toast(message(it)) }
            }
        }
        c.button("Exchange (to receive invites)") { startActivity(Intent(this, ExchangeActivity::class.java)) }
        c.button("Settings") { startActivity(Intent(this, SettingsActivity::class.java)) }
        show(c)
    }

    override fun onStart() {
        super.onStart()
        if (isFinishing) return
        refresh()
        invites = device.subscribeInvites(object : InviteListener {
            override fun onInvites(invites: List<ReceivedInvite>) {
                val rows = inviteRows(invites)
                MapeoApp.mainHandler.post { showInvites(rows) }
            }
        })
    }

    override fun onStop() {
        invites?.close()
        invites = null
        super.onStop()
    }

    private fun refresh() {
        work({ device.listProjects() }) { r ->
            val projects = r.getOrElse { toast(message(it)); return@work }
            projectsBox.removeAllViews()
            if (projects.isEmpty()) projectsBox.label("No projects yet: create one, or exchange with a coordinator to be invited.")
            for (p in projects.sortedBy { it.settings.name?.lowercase() ?: "" }) {
                val status = if (p.damaged) " (damaged: tap to repair)" else when (p.status) {
                    ProjectStatus.JOINING -> " (joining: exchange to finish)"
                    ProjectStatus.LEFT -> " (left)"
                    ProjectStatus.JOINED -> ""
                }
                projectsBox.button((p.settings.name ?: "Unnamed project") + status) {
                    if (p.damaged) {
                        repair(p.projectId)
                    } else {
                        startActivity(Intent(this, MapActivity::class.java).putExtra(EXTRA_PROJECT, p.projectId))
                    }
                }
            }
        }
    }

    /** Sets a damaged project's store aside and makes a fresh one; an exchange brings its data back. */
    private fun repair(projectId: String) {
        work({ device.repairProject(projectId) }) { r ->
            r.getOrElse { toast(message(it)); return@work }
            toast("Project repaired: exchange with another member to get its data back")
            refresh()
        }
    }

    private fun showInvites(rows: List<InviteRow>) {
        if (isDestroyed) return
        invitesBox.removeAllViews()
        if (rows.isEmpty()) return
        invitesBox.label("Invites", 18f, bold = true)
        for (invite in rows) {
            invitesBox.label(invite.title, bold = true)
            invitesBox.label(invite.detail, 14f)
            val buttons = row().also { invitesBox.addView(it) }
            buttons.button("Accept") {
                toast("Joining… keep the devices connected")
                work({ device.acceptInvite(invite.inviteId) }) { r ->
                    r.onSuccess { toast("Joined"); refresh() }.onFailure { toast(message(it)) }
                }
            }
            buttons.button("Reject") {
                work({ device.rejectInvite(invite.inviteId) }) { r -> r.onFailure { toast(message(it)) } }
            }
        }
    }
}
