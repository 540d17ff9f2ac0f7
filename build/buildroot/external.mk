include $(sort $(wildcard $(BR2_EXTERNAL_CRASHKEEP_PATH)/package/*/*.mk))
