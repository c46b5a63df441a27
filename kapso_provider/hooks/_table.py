"""Every endpoint both hooks expose, listed once: :class:`KapsoEndpoints`.

A line here names an endpoint definition of :mod:`kapso_provider.api.v1` (or, for an operation only Kapso's
current API has, of :mod:`kapso_provider.api.current`); the hooks turn it into a method
(see :mod:`kapso_provider.hooks._endpoints`). Adding an endpoint means one definition there and one line
here; ``tests/hooks/test_endpoints.py`` fails for a definition that no line lists.
"""

from __future__ import annotations

from kapso_provider.api.current import agents as agent_runs
from kapso_provider.api.current import broadcasts as current_broadcasts
from kapso_provider.api.current import contacts as current_contacts
from kapso_provider.api.current import conversations as current_conversations
from kapso_provider.api.current import media, phone_numbers, template_publishing, webhooks
from kapso_provider.api.current import templates as current_templates
from kapso_provider.api.v1 import agents, broadcasts, contacts, conversations, inbound, messages, platform, templates
from kapso_provider.hooks._endpoints import listing, operation


class KapsoEndpoints:
    """The endpoint methods of :class:`~kapso_provider.hooks.kapso.KapsoHook` and its async twin."""

    # -- messages and conversations --

    check_connection = operation(messages.check_connection)
    find_sent_message = operation(messages.find_sent_message)
    get_conversation = operation(messages.get_conversation)
    get_message = operation(messages.get_message)
    list_conversations = listing(messages.list_conversations)
    list_inbound_messages = listing(inbound.list_inbound_messages)
    list_messages = listing(messages.list_messages)
    locate_message = operation(messages.locate_message)
    send_message = operation(messages.send_message)
    send_template = operation(messages.send_template)

    # -- media (current API only) --

    upload_media = operation(media.upload_media)
    upload_media_from_url = operation(media.upload_media_from_url)

    # -- conversation status, mark as read, assignments --

    create_assignment = operation(conversations.create_assignment)
    end_conversation = operation(conversations.end_conversation)
    list_assignments = listing(conversations.list_assignments)
    mark_message_as_read = operation(conversations.mark_message_as_read)
    reactivate_conversation = operation(conversations.reactivate_conversation)
    update_assignment = operation(conversations.update_assignment)
    get_assignment = operation(current_conversations.get_assignment)  # current API only

    # -- templates --

    create_template = operation(templates.create_template)
    edit_template_on_meta = operation(templates.edit_template_on_meta)
    get_template = operation(templates.get_template)
    get_template_sync_status = operation(templates.get_template_sync_status)
    list_templates = listing(templates.list_templates)
    submit_template = operation(templates.submit_template)
    sync_templates = operation(templates.sync_templates)
    update_template = operation(templates.update_template)
    # current API only: delete, and a template kept in version control made WhatsApp's
    delete_template = operation(current_templates.delete_template)
    find_template = operation(template_publishing.find_template)
    publish_template = operation(template_publishing.publish_template)

    # -- contacts and their notes --

    create_contact = operation(contacts.create_contact)
    create_contact_note = operation(contacts.create_contact_note)
    delete_contact_note = operation(contacts.delete_contact_note)
    find_contact_note = operation(contacts.find_contact_note)
    get_contact = operation(contacts.get_contact)
    get_contact_note = operation(contacts.get_contact_note)
    list_contact_notes = listing(contacts.list_contact_notes)
    list_contacts = listing(contacts.list_contacts)
    update_contact = operation(contacts.update_contact)
    update_contact_note = operation(contacts.update_contact_note)
    # current API only: erasure and marketing preferences
    erase_contact = operation(current_contacts.erase_contact)
    get_marketing_preference = operation(current_contacts.get_marketing_preference)
    list_marketing_preferences = listing(current_contacts.list_marketing_preferences)

    # -- WhatsApp configs and projects (API v1 only), customers (both: api/current/customers.py) --

    create_customer = operation(platform.create_customer)
    delete_customer = operation(platform.delete_customer)
    get_customer = operation(platform.get_customer)
    get_project = operation(platform.get_project)
    get_whatsapp_config = operation(platform.get_whatsapp_config)
    get_whatsapp_config_health = operation(platform.get_whatsapp_config_health)
    list_customers = listing(platform.list_customers)
    list_whatsapp_configs = listing(platform.list_whatsapp_configs)
    update_customer = operation(platform.update_customer)

    # -- phone numbers (the health check on both generations, the rest current API only) --

    get_phone_number = operation(phone_numbers.get_phone_number)
    get_phone_number_health = operation(platform.get_phone_number_health)
    list_phone_numbers = listing(phone_numbers.list_phone_numbers)

    # -- webhooks and their delivery log (current API only) --

    create_webhook = operation(webhooks.create_webhook)
    delete_webhook = operation(webhooks.delete_webhook)
    get_webhook = operation(webhooks.get_webhook)
    list_webhook_deliveries = listing(webhooks.list_webhook_deliveries)
    list_webhooks = listing(webhooks.list_webhooks)
    send_webhook_test = operation(webhooks.send_webhook_test)
    update_webhook = operation(webhooks.update_webhook)

    # -- broadcasts --

    add_broadcast_recipients = operation(broadcasts.add_broadcast_recipients)
    create_broadcast = operation(broadcasts.create_broadcast)
    find_broadcast = operation(broadcasts.find_broadcast)
    get_broadcast = operation(broadcasts.get_broadcast)
    list_broadcast_recipients = listing(broadcasts.list_broadcast_recipients)
    list_broadcasts = listing(broadcasts.list_broadcasts)
    send_broadcast = operation(broadcasts.send_broadcast)
    # current API only: schedule, cancel, stop, clear
    cancel_broadcast = operation(current_broadcasts.cancel_broadcast)
    clear_broadcast_recipients = operation(current_broadcasts.clear_broadcast_recipients)
    schedule_broadcast = operation(current_broadcasts.schedule_broadcast)
    stop_broadcast = operation(current_broadcasts.stop_broadcast)

    # -- agents, flows and their executions --

    find_agent_execution = operation(agents.find_agent_execution)
    find_flow_execution = operation(agents.find_flow_execution)
    get_agent = operation(agents.get_agent)
    get_agent_execution = operation(agents.get_agent_execution)
    get_flow = operation(agents.get_flow)
    get_flow_execution = operation(agents.get_flow_execution)
    list_agent_executions = listing(agents.list_agent_executions)
    list_agents = listing(agents.list_agents)
    list_flow_executions = listing(agents.list_flow_executions)
    list_flows = listing(agents.list_flows)
    resume_agent_execution = operation(agents.resume_agent_execution)
    resume_flow_execution = operation(agents.resume_flow_execution)
    start_agent_execution = operation(agents.start_agent_execution)
    start_flow_execution = operation(agents.start_flow_execution)
    update_agent_execution_status = operation(agents.update_agent_execution_status)

    # -- Kapso agent runs (current API only) --

    approve_agent_run = operation(agent_runs.approve_agent_run)
    cancel_agent_run = operation(agent_runs.cancel_agent_run)
    get_agent_run = operation(agent_runs.get_agent_run)
    pause_agent_run = operation(agent_runs.pause_agent_run)
    reject_agent_run = operation(agent_runs.reject_agent_run)
    resume_agent_run = operation(agent_runs.resume_agent_run)
    start_agent_run = operation(agent_runs.start_agent_run)
